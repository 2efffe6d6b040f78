"""``torchvision`` beside this project's CPU torch: PyPI's torchvision wheel for torch 2.13.0
is the CUDA build, whose C++ ops (``torchvision::nms``...) cannot load without CUDA torch,
and its import then fails (``operator torchvision::nms does not exist``). `load_torchvision`
defines the two ops its import registers fake kernels for (schemas only) and imports it
again: the models load and run; the detection ops stay unusable."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

_TV_STUBS: list[Any] = []  # keeps the stub library of `load_torchvision` alive


def load_torchvision() -> ModuleType:
    """``torchvision``, importable beside a CPU torch whose CUDA wheel's ops cannot load
    (module docstring): the ops ``torchvision::nms`` and ``qnms`` get schemas (no kernels)."""
    import torch

    try:
        import torchvision

        return torchvision
    except RuntimeError as e:
        if "torchvision::nms" not in str(e):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _TV_STUBS.append(lib)
    import torchvision

    return torchvision
