"""Training steps with ``autograd.record``: a chain of networks, one loss, a Gluon Trainer.

MXNet's BatchNorm updates running statistics during ``backward``, so they follow the step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from triptych.common.recipe import Optimizer, check_loss
from triptych.frameworks.mxnet.build import GluonBuilt
from triptych.frameworks.mxnet.compat import mx


def _loss(kind: str, out, target):
    nd = mx.nd
    if kind == "mse":
        return nd.mean(nd.square(out - target))
    if kind == "cross_entropy":
        logp = nd.log_softmax(out, axis=1)
        return -nd.mean(nd.pick(logp, target, axis=1))
    return nd.mean(nd.relu(out) - out * target + nd.log1p(nd.exp(-nd.abs(out))))


def make_trainer(
    chain: list[GluonBuilt], loss: str, optimizer: Optimizer
) -> Callable[[np.ndarray, np.ndarray], float]:
    """``step(x, target) -> loss``: train-mode forward through ``chain``, backward, update."""
    kind = check_loss(loss)
    blocks = [b.native for b in chain]
    params = [p for b in blocks for p in b.collect_params().values() if p.grad_req != "null"]
    if optimizer.name == "sgd":
        trainer = mx.gluon.Trainer(params, "sgd", {"learning_rate": optimizer.lr, "wd": 0.0})
    else:
        trainer = mx.gluon.Trainer(
            params,
            "adam",
            {
                "learning_rate": optimizer.lr,
                "beta1": optimizer.betas[0],
                "beta2": optimizer.betas[1],
                "epsilon": optimizer.eps,
                "wd": 0.0,
            },
        )

    def step(x: np.ndarray, target: np.ndarray) -> float:
        h = mx.nd.array(np.asarray(x, np.float32), dtype="float32")
        t = mx.nd.array(np.asarray(target, np.float32), dtype="float32")
        with mx.autograd.record(train_mode=True):
            for b in blocks:
                h = b(h)
            value = _loss(kind, h, t)
        value.backward()
        trainer.step(1)  # the loss is already a batch mean
        return float(value.asscalar())

    return step
