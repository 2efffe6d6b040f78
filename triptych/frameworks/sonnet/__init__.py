"""The Sonnet 2 backend (DeepMind's ``dm-sonnet``): the modules build, train, export, runtime,
speed and distributed, with the same names in every backend folder. Sonnet 2 modules are
``tf.Module``s running plain TensorFlow, so this backend shares TensorFlow's set-up
(`triptych.frameworks.tensorflow.compat`), NHWC layout plan, Adam, exporter route (tf2onnx
``from_function``) and data-parallel engine; what is Sonnet's own is the model (``snt.Linear``,
``snt.Conv2D``, ``snt.Conv2DTranspose`` in one ``snt.Module``) and the native optimizers
(``snt.optimizers``). Nothing here is imported until the framework is first used."""
