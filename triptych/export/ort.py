"""One factory for ONNX Runtime sessions: provider choice, threads, optimisation level.

``provider="auto"`` asks for CUDA when ORT offers it and keeps it only if it really loads
(the GPU package lists CUDA even on machines without a GPU, then silently falls back);
``strict=True`` turns that fallback into an error. Every session records what it really uses
in ``session.get_providers()``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
OPT_LEVELS = ("disable", "basic", "extended", "all")


class ProviderError(RuntimeError):
    """A requested execution provider is unknown or does not load (strict mode)."""


def _ort() -> Any:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # errors only: the CUDA probe warns on CPU machines
    return ort


def _options(threads: int | None, opt_level: str, spinning: bool = True) -> Any:
    ort = _ort()
    if opt_level not in OPT_LEVELS:
        raise ValueError(
            f"unknown graph optimisation level {opt_level!r}; allowed: {', '.join(OPT_LEVELS)}"
        )
    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[opt_level]
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    if not spinning:  # idle pool threads sleep instead of busy-waiting for the next run
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


@lru_cache(maxsize=1)
def cuda_loads() -> bool:
    """Whether the CUDA provider really loads here (probed once with a one-node model)."""
    from onnx import TensorProto, helper

    ort = _ort()
    if PROVIDERS["cuda"] not in ort.get_available_providers():
        return False
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    try:
        sess = ort.InferenceSession(
            model.SerializeToString(),
            _options(1, "basic"),
            providers=[PROVIDERS["cuda"], PROVIDERS["cpu"]],
        )
    except Exception:
        return False
    return PROVIDERS["cuda"] in sess.get_providers()


def resolve_providers(provider: str = "auto", strict: bool = False) -> list[str]:
    """ORT provider list for ``provider`` in auto|cpu|cuda."""
    if provider not in ("auto", *PROVIDERS):
        raise ProviderError(f"unknown provider {provider!r}; allowed: auto, {', '.join(PROVIDERS)}")
    if provider == "cpu":
        return [PROVIDERS["cpu"]]
    if cuda_loads():
        return [PROVIDERS["cuda"], PROVIDERS["cpu"]]
    if provider == "cuda" and strict:
        raise ProviderError(
            "CUDAExecutionProvider was requested with strict provider "
            "checking but does not load on this machine (no GPU/driver)"
        )
    return [PROVIDERS["cpu"]]


def make_session(
    model: str | os.PathLike | bytes,
    provider: str = "auto",
    strict: bool = False,
    threads: int | None = None,
    opt_level: str = "all",
    spinning: bool = True,
) -> Any:
    """An ``onnxruntime.InferenceSession`` (path or serialized bytes).

    Defaults: provider auto, ORT's own thread count, all graph optimisations, spinning on.
    ``spinning=False`` sets ``session.intra_op.allow_spinning`` (and inter-op) to 0: pool
    threads sleep between runs instead of busy-waiting for ~ms, which costs a little latency
    per run but leaves the cores to other work (a server, its clients, other sessions).
    """
    ort = _ort()
    providers = resolve_providers(provider, strict)
    src = model if isinstance(model, bytes) else str(model)
    options = _options(threads, opt_level, spinning)
    sess = ort.InferenceSession(src, options, providers=providers)
    if strict and sess.get_providers()[0] != providers[0]:
        raise ProviderError(f"asked for {providers[0]}, session runs on {sess.get_providers()}")
    return sess
