"""The training driver: recipes' runs (`run`), their default run folders, data-parallel
launch, evaluation, pictures, the MNIST and transfer suites. The loop itself, checkpoints and
history are the engine below it (`triptych.engine`); framework-specific code is only the
step objects in each backend's ``train.py``.
"""
