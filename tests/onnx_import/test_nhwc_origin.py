"""NHWC-origin files (tf2onnx's Keras graphs without ``inputs_as_nchw``: an (N, H, W, C)
input transposed to NCHW): the imported network takes (C, H, W), its spec records the file's
layout in ``options["input_layout"]``, and ``predict(x, layout="NHWC")`` takes the file's
own inputs, equal to ORT on the file in every framework the importer tests use."""

from __future__ import annotations

import numpy as np
import pytest

import triptych

from .conftest import FRAMEWORKS, ort_run


def _keras_file(tmp_path, size: int = 12):
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    tf2onnx = pytest.importorskip("tf2onnx")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU(6.0)(y)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    model = keras.Model(inputs, keras.layers.Dense(4)(y))
    fn = tf.function(lambda x: {"output": model(x, training=False)})
    spec = [tf.TensorSpec([None, size, size, 3], tf.float32, name="input")]
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
    path = tmp_path / "keras_nhwc.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def test_nhwc_input_imports_as_nchw_and_predicts_in_either_layout(tmp_path):
    path = _keras_file(tmp_path)
    spec, weights = triptych.import_onnx(path)
    assert spec.options["input_layout"] == "NHWC"
    assert spec.input_shape == (3, 12, 12)
    x_nhwc = np.random.default_rng(0).standard_normal((2, 12, 12, 3)).astype(np.float32)
    want = ort_run(path, x_nhwc)
    for fw in FRAMEWORKS:
        model = triptych.create(spec, framework=fw, weights=weights)
        for got in (model.predict(x_nhwc, layout="NHWC"),
                    model.predict(x_nhwc.transpose(0, 3, 1, 2))):  # fmt: skip
            assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max())), fw


def test_nchw_files_record_no_layout_and_bad_layouts_are_refused(tmp_path):
    model = triptych.create("classifier", framework="torch")
    assert "input_layout" not in model.spec.options
    x = np.zeros((1, *model.spec.input_shape), np.float32)
    with pytest.raises(ValueError, match="layout 'NWHC': allowed 'NCHW' or 'NHWC'"):
        model.predict(x, layout="NWHC")
    with pytest.raises(ValueError, match=r"takes \(N, H, W, C\) images"):
        model.predict(x[0], layout="NHWC")
