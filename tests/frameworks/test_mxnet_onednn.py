"""MXNet with oneDNN on: the two training failures of mxnet 1.9.1's oneDNN path are cured
(`triptych.frameworks.mxnet.onednn`; reproducers in benchmarks/mxnet_onednn/repro.py), the
cure computes the same numbers, and the ONNX export carries no trace of it."""

from __future__ import annotations

import tempfile

import numpy as np
import onnx
import pytest

import triptych
from triptych.common import zoo
from triptych.common.recipe import Optimizer

if "mxnet" not in triptych.frameworks():
    pytest.skip("mxnet is not installed (pip install 'triptych[mxnet]')", allow_module_level=True)

from triptych.frameworks.mxnet import onednn
from triptych.frameworks.mxnet.compat import mx

pytestmark = pytest.mark.skipif(not onednn.enabled(), reason="mxnet runs without oneDNN here")


def _deconv_reference(x, w, b, g, stride=2, pad=1):
    """ConvTranspose2d forward and the gradients of sum(y * g), in numpy (float64)."""
    n, _, h, wd = x.shape
    _, cout, k, _ = w.shape
    full = np.zeros((n, cout, (h - 1) * stride + k, (wd - 1) * stride + k))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride : i * stride + k, j * stride : j * stride + k] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], w
            )
    y = full[:, :, pad:-pad, pad:-pad] + b[None, :, None, None]
    gfull = np.zeros_like(full)
    gfull[:, :, pad:-pad, pad:-pad] = g
    gx, gw = np.zeros_like(x), np.zeros_like(w)
    for i in range(h):
        for j in range(wd):
            patch = gfull[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            gx[:, :, i, j] = np.einsum("nokl,cokl->nc", patch, w)
            gw += np.einsum("nc,nokl->cokl", x[:, :, i, j], patch)
    return y, gx, gw, g.sum(axis=(0, 2, 3))


@pytest.mark.parametrize("in_channels", [8, 16, 32])
def test_cured_conv_transpose_to_one_channel_trains_and_matches_numpy(in_channels: int) -> None:
    assert onednn.needs_cure(1, in_channels)  # the configuration oneDNN fails on
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, in_channels, 3, 3)).astype(np.float32)
    w = (rng.standard_normal((in_channels, 1, 4, 4)) * 0.2).astype(np.float32)
    b = rng.standard_normal(1).astype(np.float32)
    g = rng.standard_normal((3, 1, 6, 6)).astype(np.float32)
    block = onednn.Conv2DTranspose(1, 4, 2, 1, in_channels=in_channels)
    block.initialize()
    block.weight.set_data(mx.nd.array(w))
    block.bias.set_data(mx.nd.array(b))
    xd = mx.nd.array(x)
    xd.attach_grad()
    with mx.autograd.record():
        y = block(xd)
    y.backward(mx.nd.array(g))
    want = _deconv_reference(x.astype(np.float64), w.astype(np.float64), b, g.astype(np.float64))
    got = (y, xd.grad, block.weight.grad(), block.bias.grad())
    for name, a, ref in zip(("y", "grad x", "grad w", "grad b"), got, want, strict=True):
        np.testing.assert_allclose(a.asnumpy(), ref, rtol=1e-5, atol=1e-5, err_msg=name)


def test_needs_cure_only_for_one_output_channel_and_simd_multiple_inputs() -> None:
    assert [onednn.needs_cure(1, c) for c in (8, 15, 16, 17, 64)] == [1, 0, 1, 0, 1]
    assert not onednn.needs_cure(2, 16) and not onednn.needs_cure(16, 32)


def _gan_generator_losses(hybridize: bool, trace_for_inference: bool) -> list[float]:
    spec = zoo.create_spec("gan")
    model = triptych.create(spec, framework="mxnet", seed=0)
    chain = model.built_chain()
    z = np.random.default_rng(0).standard_normal((8, *spec.input_shape)).astype(np.float32)
    target = np.random.default_rng(1).random((8, *spec.output_shape), dtype=np.float32)
    if hybridize:
        for b in chain:
            b.native.hybridize(static_alloc=True, static_shape=True)
    if trace_for_inference:  # the graph is traced here, outside autograd.record
        model.predict(z)
    step = model.backend.train.make_trainer(chain, "mse", Optimizer("adam", 1e-3))
    return [step(z, target) for _ in range(3)]


def test_gan_generator_trains_imperative_and_hybridized_after_an_inference_trace() -> None:
    """Both failures sit in this generator: Dense -> BatchNorm -> Unflatten -> ConvTranspose
    (hybridized: "!is_view") and ConvTranspose 32 -> 1 channel (reorder)."""
    imperative = _gan_generator_losses(hybridize=False, trace_for_inference=False)
    hybridized = _gan_generator_losses(hybridize=True, trace_for_inference=True)
    assert imperative[-1] < imperative[0]
    np.testing.assert_allclose(hybridized, imperative, rtol=1e-5)


def test_onnx_export_is_the_plain_graph() -> None:
    model = triptych.create("conv_autoencoder", framework="mxnet", seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        graph = onnx.load(model.export_onnx(tmp, networks=["decoder"])["decoder"]).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("ConvTranspose") == 2 and "Concat" not in ops and "Slice" not in ops
    shapes = {tuple(t.dims) for t in graph.initializer}
    assert (16, 1, 4, 4) in shapes  # the last ConvTranspose's weights, not padded to 17 inputs
