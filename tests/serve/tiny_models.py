"""Tiny ONNX models built with onnx.helper in the tests themselves (milliseconds, no
framework): a scaled identity (to tell versions apart) and token ids into an embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]
IR_VERSION = 8  # what onnxruntime reads (onnx.helper would write its newest)


def scale_model(path: Path, factor: float) -> Path:
    """``y = x * factor``, FP32 (-1, 4) in and out."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y"])],
        "scale",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(np.array(factor, np.float32), "k")],
    )
    onnx.save(helper.make_model(graph, opset_imports=OPSET, ir_version=IR_VERSION), path)
    return path


def embedding_model(path: Path, table: np.ndarray, id_type: int = TensorProto.INT64) -> Path:
    """``y = mean(table[ids], axes=(1, 2))``: ``ids`` of ``id_type`` (INT64 or INT32) and
    shape (-1, 5) gathered from the FP32 ``table`` (Gather, as an embedding does), then
    ReduceMean to FP32 (-1,)."""
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["emb"], axis=0),
            helper.make_node("ReduceMean", ["emb"], ["y"], axes=[1, 2], keepdims=0),
        ],
        "embedding",
        [helper.make_tensor_value_info("ids", id_type, ["batch", 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])],
        [numpy_helper.from_array(table.astype(np.float32), "table")],
    )
    onnx.save(helper.make_model(graph, opset_imports=OPSET, ir_version=IR_VERSION), path)
    return path
