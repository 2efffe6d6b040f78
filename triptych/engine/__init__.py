"""The training engine: the loop every framework shares (`loop.fit`), the `trainer.Trainer`
holding a model's step objects, checkpoints, history, input corruption and exact Dropout
masks drawn ahead. It works on any `triptych.frameworks.base.ModelLike`; the driver that
runs recipes (progress, run folders, suites) is `triptych.training`."""
