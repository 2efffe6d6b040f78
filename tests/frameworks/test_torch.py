"""PyTorch's tuned path (the benchmarks' tuned variant): ``torch.compile`` computes what the
eager modules compute, in training (losses and weights after three SGD steps: Adam would
turn the float32 noise of a gradient that is zero in exact arithmetic, a conv bias before
BatchNorm, into full-size steps) and in inference, and the devices PyTorch reports start
with the CPU."""

import numpy as np
import pytest

pytest.importorskip("torch", reason="PyTorch is not installed")

from triptych.common.recipe import Optimizer
from triptych.frameworks.torch import runtime, speed
from triptych.model import create


def _model():
    return create("conv_autoencoder", framework="torch", seed=0)


def test_the_compiled_train_step_matches_the_eager_one():
    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 8, 8), dtype=np.float32)
    runs = []
    for tuned in (False, True):
        model = _model()
        step = model.backend.train.make_trainer(
            model.built_chain(), "mse", Optimizer("sgd", 0.1), tuned=tuned
        )
        losses = [step(x, x) for _ in range(3)]
        runs.append((losses, model.get_weights()))
    (eager_loss, eager_w), (compiled_loss, compiled_w) = runs
    np.testing.assert_allclose(compiled_loss, eager_loss, rtol=1e-5)
    for name, w in eager_w.items():
        np.testing.assert_allclose(compiled_w[name], w, atol=1e-5, err_msg=name)


def test_the_compiled_inference_matches_predict():
    model = _model()
    x = np.random.default_rng(1).random((4, 1, 8, 8), dtype=np.float32)
    expected = model.predict(x)
    got = speed.fast_infer(model.built_chain(), x)()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_devices_start_with_the_cpu_and_name_each_gpu():
    devices = runtime.devices()
    assert devices[0] == "cpu"
    assert all(d.startswith("cuda:") and "(" in d for d in devices[1:])
