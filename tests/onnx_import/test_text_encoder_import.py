"""Text encoders with int64 token ids import: PyTorch's ``nn.Embedding`` + learned positions +
``nn.TransformerEncoder`` (pre-norm and post-norm, GELU, two sizes), exported by torch.onnx
with both exporters, and a Keras Embedding + MultiHeadAttention block through tf2onnx. The
table becomes an `Embedding` reading the network's int64 input, the input keeps its dtype,
and every installed framework's build of the imported spec equals ORT on the file within
1e-5 of the output's scale (the issue asks 1e-4)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

import triptych
from triptych.common import spec as S
from triptych.onnx_import.errors import UnsupportedOnnx

TOL = 1e-5
VOCAB, LENGTH = 50, 12


class TextEncoder(torch.nn.Module):
    """Embedding + positions + ``depth`` encoder layers + mean over tokens + a linear head."""

    def __init__(self, width: int, heads: int, depth: int, norm_first: bool) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, width)
        self.pos = torch.nn.Parameter(torch.randn(LENGTH, width) * 0.02)
        layer = torch.nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0,
                                                 batch_first=True, norm_first=norm_first,
                                                 activation="gelu")  # fmt: skip
        self.encoder = torch.nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = torch.nn.Linear(width, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(ids) + self.pos).mean(1))


def _ids(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).integers(0, VOCAB, (n, LENGTH), dtype=np.int64)


def _max_diffs(path, x: np.ndarray) -> tuple[S.ModelSpec, dict[str, float]]:
    spec, weights = triptych.import_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {session.get_inputs()[0].name: x})[0]
    diffs = {}
    for fw in triptych.frameworks():
        got = triptych.create(spec, framework=fw, weights=weights).predict(x)
        diffs[fw] = float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))
    return spec, diffs


SIZES = {"w32h4d2": (32, 4, 2), "w48h6d1": (48, 6, 1)}


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize("norm", ["pre_norm", "post_norm"])
@pytest.mark.parametrize("size", sorted(SIZES))
def test_torch_text_encoder_imports(tmp_path, exporter, norm, size):
    torch.manual_seed(0)
    width, heads, depth = SIZES[size]
    model = TextEncoder(width, heads, depth, norm_first=norm == "pre_norm").eval()
    path = tmp_path / "text.onnx"
    kw = (
        {"dynamo": True, "dynamic_shapes": ({0: torch.export.Dim("batch")},)}
        if exporter == "dynamo"
        else {"dynamo": False, "dynamic_axes": {"ids": {0: "b"}}}
    )
    torch.onnx.export(model, (torch.from_numpy(_ids(2)),), str(path), input_names=["ids"],
                      output_names=["logits"], opset_version=18, **kw)  # fmt: skip
    spec, diffs = _max_diffs(path, _ids())
    net = spec.networks["net"]
    assert net.input_dtype == "int64" and net.input_shape == (LENGTH,)
    kinds = [layer.kind for layer in net.layers]
    assert kinds[0] == "embedding" and kinds.count("multi_head_attention") == depth
    # pre-norm: a LayerNorm before each attention; post-norm: after each residual add
    first_attention = kinds.index("multi_head_attention")
    assert (kinds[first_attention - 1] == "layer_norm") == (norm == "pre_norm"), kinds
    assert max(diffs.values()) <= TOL, diffs


class PaddedTextEncoder(TextEncoder):
    """The encoder told which tokens are padding (id 0): ``src_key_padding_mask``."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.pos
        return self.head(self.encoder(x, src_key_padding_mask=ids == 0).mean(1))


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize("norm", ["pre_norm", "post_norm"])
def test_key_padding_mask_imports_as_masked_attention(tmp_path, norm, exporter):
    """The mask PyTorch computes from the ids (Equal, Where, Expand into the scores) is read
    as `PaddingMask(0)` feeding `MaskedMultiHeadAttention`; padded batches match ORT."""
    torch.manual_seed(0)
    model = PaddedTextEncoder(32, 4, 2, norm_first=norm == "pre_norm").eval()
    path = tmp_path / "padded.onnx"
    kw = (
        {"dynamo": True, "dynamic_shapes": ({0: torch.export.Dim("batch")},)}
        if exporter == "dynamo"
        else {"dynamo": False, "dynamic_axes": {"ids": {0: "b"}}}
    )
    torch.onnx.export(model, (torch.from_numpy(_ids(2)),), str(path), input_names=["ids"],
                      output_names=["logits"], opset_version=18, **kw)  # fmt: skip
    x = _ids(4)
    x[x == 0] = 1
    x[0, 6:], x[1, 10:], x[3, 1:] = 0, 0, 0  # padded tails; sample 2 unpadded
    spec, diffs = _max_diffs(path, x)
    layers = spec.networks["net"].layers
    assert [la.kind for la in layers].count("masked_multi_head_attention") == 2
    assert {la.pad_id for la in layers if isinstance(la, S.PaddingMask)} == {0}
    assert max(diffs.values()) <= TOL, diffs


def test_keras_embedding_attention_block_through_tf2onnx(tmp_path):
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    tf2onnx = pytest.importorskip("tf2onnx")
    keras.utils.set_random_seed(0)
    ids = keras.Input((LENGTH,), dtype="int64")
    y = keras.layers.Embedding(VOCAB, 16)(ids)
    a = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(y, y)
    y = keras.layers.LayerNormalization(epsilon=1e-5)(keras.layers.Add()([y, a]))
    y = keras.layers.GlobalAveragePooling1D()(y)
    model = keras.Model(ids, keras.layers.Dense(3)(y))
    fn = tf.function(lambda x: {"out": model(x, training=False)})
    sig = [tf.TensorSpec([None, LENGTH], tf.int64, name="ids")]
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=sig, opset=17)
    path = tmp_path / "keras_text.onnx"
    path.write_bytes(proto.SerializeToString())
    spec, diffs = _max_diffs(path, _ids())
    kinds = {layer.kind for layer in spec.networks["net"].layers}
    assert {"embedding", "multi_head_attention", "layer_norm"} <= kinds
    assert max(diffs.values()) <= TOL, diffs


def test_a_table_gathered_by_something_else_is_refused(tmp_path):
    """A constant table indexed by computed values (not the input's token ids) is not an
    embedding: the refusal names the node and what is allowed."""
    table = helper.make_tensor("table", TensorProto.FLOAT, (4, 3), np.arange(12.0).tolist())
    nodes = [
        helper.make_node("Cast", ["x"], ["ids"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "ids"], ["y"]),
        helper.make_node("ReduceMean", ["y"], ["out"], axes=[1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3])],
        [table],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "gather.onnx"
    onnx.save(model, path)
    with pytest.raises(UnsupportedOnnx, match=r"Gather.*only the network's int64 token ids"):
        triptych.import_onnx(path)


def test_an_integer_input_keeps_its_dtype_through_export(tmp_path):
    """The imported text encoder exports again with an int64 input that ORT runs."""
    x = S.Input((LENGTH,), dtype="int64")
    t = S.MultiHeadAttention(2)(S.PositionEmbedding()(S.Embedding(VOCAB, 8)(x)))
    net = S.Network("net", inputs=x, outputs=S.Dense(3)(S.ReduceMean((0,), False)(t)))
    spec = S.single(net, "tiny_text")
    for fw in triptych.frameworks():
        model = triptych.create(spec, framework=fw, seed=0)
        path = next(iter(model.export_onnx(tmp_path / fw).values()))
        proto = onnx.load(path)
        assert proto.graph.input[0].type.tensor_type.elem_type == TensorProto.INT64, fw
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        want = model.predict(_ids())
        got = session.run(None, {session.get_inputs()[0].name: _ids()})[0]
        assert np.abs(got - want).max() <= TOL * max(1.0, float(np.abs(want).max())), fw
