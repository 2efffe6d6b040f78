"""The Chainer backend: the modules build, train, export, runtime, distributed and speed, with
the same names in every backend folder. The registry (`triptych.frameworks.base`) adapts them
into one Backend; nothing here is imported until the framework is first used."""
