"""Canonical layer names from ONNX initializer names: stable, identifiers, unique."""

from __future__ import annotations

import re

from triptych.common.layers import NAME_PATTERN

#: trailing parts of initializer names that name the tensor, not the layer
_TENSOR_SUFFIXES = ("weight", "bias", "gamma", "beta", "running_mean", "running_var",
                    "moving_mean", "moving_var", "kernel", "scale")  # fmt: skip


def layer_name(initializer: str | None) -> str | None:
    """The layer name an initializer's name suggests, or None (then the layer is keyed by
    its index). ``layer1.0.conv1.weight`` -> ``layer1_0_conv1`` (torch);
    ``encoder_dense0_weight`` -> ``encoder_dense0`` (MXNet);
    ``net_1/conv2d_3_1/convolution/ReadVariableOp:0`` -> ``net_1_conv2d_3_1`` (tf2onnx);
    ``4.weight`` -> None (not an identifier)."""
    if not initializer:
        return None
    text = initializer.split(":")[0]
    if "/" in text:
        parts = [p for p in text.split("/") if p]
        text = "_".join(parts[:2] if len(parts) >= 3 else parts[:1])
    else:
        for suffix in _TENSOR_SUFFIXES:
            for sep in (".", "_"):
                if text.endswith(sep + suffix):
                    text = text[: -len(suffix) - 1]
                    break
            else:
                continue
            break
    text = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    text = re.sub(r"_+", "_", text)
    if not text or not NAME_PATTERN.fullmatch(text) or text.isdigit():
        return None
    return text


def from_node(node_name: str) -> str | None:
    """A layer name from a torchscript-style scoped node name, for anonymous initializers
    (``onnx::Conv_193``): ``/layer1/layer1.0/conv1/Conv`` -> ``layer1_0_conv1``."""
    parts = [p for p in node_name.split("/") if p][:-1]
    if not parts:
        return None
    path = parts[0]
    for part in parts[1:]:
        path = part if part.startswith(path + ".") else f"{path}.{part}"
    return layer_name(path + ".weight")


def pick(initializer: str | None, node_name: str) -> str | None:
    """The initializer's name, else (anonymous ``onnx::`` initializers) the node's."""
    if initializer and not initializer.startswith("onnx::"):
        return layer_name(initializer)
    return from_node(node_name) if node_name.startswith("/") else None


def unique(name: str | None, taken: set[str]) -> str | None:
    """``name``, or ``name_2``, ``name_3`` ... when taken; records the result in ``taken``."""
    if name is None:
        return None
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate
