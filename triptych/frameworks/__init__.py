"""Framework backends: ``torch``, ``tensorflow``, ``mxnet``; see `triptych.frameworks.base`."""
