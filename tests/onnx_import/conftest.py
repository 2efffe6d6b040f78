"""Shared helpers of the ONNX import tests: ORT on a file, native predictions per framework."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import triptych

FRAMEWORKS = ("torch", "tensorflow", "mxnet")


def ort_run(path: str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def max_diff_per_framework(spec, weights, path, x) -> dict[str, float]:
    """max |native - ORT on the file| / max(1, max |ORT|) for the imported spec built in every
    framework: float32 rounding grows with the output's scale (MobileNetV2's logits are ~5)."""
    want = ort_run(path, x)
    out = {}
    for fw in FRAMEWORKS:
        got = triptych.create(spec, framework=fw, weights=weights).predict(x)
        assert got.shape == want.shape, (fw, got.shape, want.shape)
        out[fw] = float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))
    return out


@pytest.fixture
def probe():
    def make(shape: tuple[int, ...], n: int = 3) -> np.ndarray:
        return np.random.default_rng(0).standard_normal((n, *shape)).astype(np.float32)

    return make
