"""Framework backends: ``torch``, ``tensorflow``, ``mxnet``, ``sonnet``, ``chainer``; see
`triptych.frameworks.base`."""
