"""Spec -> Gluon ``HybridSequential`` (NCHW, PyTorch weight layouts: no conversion needed).

Gluon's Dense (out, in), Conv2D OIHW and Conv2DTranspose IOHW match the canonical layouts.
Gluon's BatchNorm tracks the *biased* batch variance (PyTorch: unbiased), so after a
train-mode step running_var gets momentum·var_b instead of momentum·var_b·n/(n-1): the
backend says so with ``bn_running_var = "biased"`` and comparisons convert (see the tests).
MXNet updates running statistics in the backward pass, not the forward.

float64 builds (the oracle parity bounds come from) cast every parameter after
initialising and feed float64 inputs; oneDNN has no float64 kernels, so MXNet runs its
reference kernels. Ops that take a float32 scalar attribute would round it (BatchNorm's
momentum and epsilon, LeakyReLU's slope and its ELU/SELU/GELU forms, clip's bounds), so a
float64 build runs them as NDArray ops with float64 scalars: `ExactBatchNorm` (PyTorch's
running-statistics rule: exact momentum, unbiased variance, updated in the forward pass), an
exact LeakyReLU and the exact activations of ``layers/activation.py``.

Each layer's block comes from its converter in `triptych.frameworks.mxnet.layers` (one
module per layer family), its parameter names from the same module's weight layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import mx, nn
from triptych.frameworks.mxnet.layers import CONVERTERS, WEIGHT_LAYOUTS, BuildContext
from triptych.frameworks.mxnet.layers.dropout import MaskedDropout

# block classes that lived here before the converters moved to layers/: still importable
from triptych.frameworks.mxnet.layers.merge import Merge  # noqa: F401
from triptych.frameworks.mxnet.layers.norm import ExactBatchNorm  # noqa: F401


class GraphBlock(nn.HybridBlock):
    """A graph network: one child block per node (registered in node order), run in
    topological order. Iterating yields the blocks in node order, as HybridSequential does."""

    def __init__(self, network: S.Network, blocks: list[nn.HybridBlock], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.sources = [info.inputs for info in network.infos]
        self.output = network.output
        self.blocks = blocks
        for i, block in enumerate(blocks):
            self.register_child(block, f"node{i}")

    def __iter__(self):
        return iter(self.blocks)

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> nn.HybridBlock:
        return self.blocks[index]

    def hybrid_forward(self, F, x):  # Gluon passes the namespace as F
        outs = []
        for block, sources in zip(self.blocks, self.sources, strict=True):
            outs.append(block(*[x if s == -1 else outs[s] for s in sources]))
        return outs[self.output]


@dataclass
class GluonBuilt:
    network: S.Network
    native: nn.HybridSequential | GraphBlock
    holders: dict[int, nn.HybridBlock] = field(default_factory=dict)
    dtype: str = "float32"


def _blocks(network: S.Network, dtype: str) -> list[nn.HybridBlock]:
    """Each layer's block, built by its converter in node order (inside the caller's
    ``name_scope``: Gluon numbers name prefixes in creation order)."""
    return [
        CONVERTERS.lookup(info.layer)(info.layer, BuildContext(info, i, dtype))
        for i, info in enumerate(network.infos)
    ]


def _param_map(layer: S.Layer) -> dict[str, str]:
    """Canonical parameter name -> the block's parameter attribute."""
    return WEIGHT_LAYOUTS.lookup(layer)(layer)


def build_network(network: S.Network, dtype: str = "float32") -> GluonBuilt:
    """Build and initialise ``network`` in ``dtype`` (float32 or float64; values are
    overwritten by `set_weights`): a ``HybridSequential`` for a chain, a `GraphBlock` for a
    graph."""
    holders: dict[int, nn.HybridBlock] = {}
    if network.is_chain:
        native = nn.HybridSequential(prefix=f"{network.name}_")
        with native.name_scope():
            blocks = _blocks(network, dtype)
            for block in blocks:
                native.add(block)
    else:
        scope = nn.HybridSequential(prefix=f"{network.name}_")
        with scope.name_scope():
            blocks = _blocks(network, dtype)
            native = GraphBlock(network, blocks, prefix="graph_")
    for i, info in enumerate(network.infos):
        if info.layer.param_shapes(info.input_shape):
            holders[i] = blocks[i]
    native.initialize(mx.init.Zero())
    if dtype != "float32":
        native.cast(dtype)
    return GluonBuilt(network, native, holders, dtype)


def set_weights(built: GluonBuilt, weights: dict[str, np.ndarray]) -> None:
    """Copy canonical tensors into the blocks' parameters, exactly."""
    name = built.network.name
    for i, block in built.holders.items():
        info = built.network.infos[i]
        for canon, attr in _param_map(info.layer).items():
            key = f"{name}.{info.key}.{canon}"
            if key in weights:
                getattr(block, attr).set_data(mx.nd.array(weights[key], dtype=built.dtype))


def get_weights(built: GluonBuilt) -> dict[str, np.ndarray]:
    """Canonical tensors of the blocks."""
    name, out = built.network.name, {}
    for i, block in built.holders.items():
        info = built.network.infos[i]
        for canon, attr in _param_map(info.layer).items():
            param = getattr(block, attr, None)
            if param is not None:
                out[f"{name}.{info.key}.{canon}"] = param.data().asnumpy().copy()
    return out


def to_input(built: GluonBuilt, x: np.ndarray) -> mx.nd.NDArray:
    """A numpy batch as the NDArray ``built`` takes: of the build's dtype, or int64 token
    ids for an int64 network (MXNet's ``Embedding`` takes them as they are: exact)."""
    dtype = S.numpy_input_dtype(built.network, built.dtype)
    return mx.nd.array(np.asarray(x, dtype), dtype=dtype)


def forward(built: GluonBuilt, x: np.ndarray, training: bool = False) -> np.ndarray:
    """Run on NCHW numpy (int64 token ids for an int64 network); training=True uses batch
    statistics and updates running ones."""
    data = to_input(built, x)
    if not training:
        return built.native(data).asnumpy()
    # Gluon's BatchNorm (ExactBatchNorm too) is the only block with running statistics
    if not any(isinstance(block, nn.BatchNorm) for block in built.holders.values()):
        with mx.autograd.train_mode():
            return built.native(data).asnumpy()
    # MXNet updates BatchNorm running statistics in the *backward* pass; a zero-gradient
    # backward makes a train-mode forward update them, as in PyTorch and Keras.
    if data.dtype != np.int64:  # ids have no gradient; the parameters are recorded anyway
        data.attach_grad()
    with mx.autograd.record(train_mode=True):
        y = built.native(data)
    y.backward(mx.nd.zeros_like(y))
    return y.asnumpy()


def set_dropout_masks(built: GluonBuilt, masks: dict[int, np.ndarray] | None) -> None:
    """Exact Dropout: canonical masks (layer index -> (N, *mask shape): the input shape,
    (1, 1, 1) for StochasticDepth, broadcast) for the next train-mode forwards; ``None``
    clears them (MXNet's own RNG again). An attention's (N, heads, L, L) go to its
    ``prob_dropout`` (on its probabilities)."""
    for i, block in enumerate(built.native):
        if not isinstance(block, MaskedDropout):
            block = getattr(block, "prob_dropout", None)
        if isinstance(block, MaskedDropout):
            m = None if masks is None else masks.get(i)
            block.mask = None if m is None else mx.nd.array(m, dtype=built.dtype)


def count_params(built: GluonBuilt) -> int:
    """Trainable parameters as Gluon counts them (grad_req != 'null')."""
    return int(
        sum(
            np.prod(p.shape) for p in built.native.collect_params().values() if p.grad_req != "null"
        )
    )
