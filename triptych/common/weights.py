"""Canonical weights <-> safetensors, with metadata, and validation against a spec.

Canonical weights are a ``dict[str, np.ndarray]`` of float32 tensors in PyTorch's layout, named
``<network>.<layer index>.<weight|bias|running_mean|running_var>``. A file carries metadata:
``model``, ``spec_hash``, ``spec`` (the spec as JSON, so any file rebuilds its own model),
``framework`` (which produced it), ``triptych_version`` and ``format``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from triptych.common.spec import ModelSpec
from triptych.common.version import __version__

FORMAT = "triptych.weights/1"


class WeightsError(ValueError):
    """Weights that do not fit a spec; the message lists every mismatch."""


def check_weights(spec: ModelSpec, weights: dict[str, np.ndarray]) -> None:
    """Raise `WeightsError` listing every missing, unexpected or mis-shaped tensor."""
    expected = spec.tensor_shapes()
    problems: list[str] = []
    for name, shape in expected.items():
        if name not in weights:
            problems.append(f"missing {name} (expected shape {shape})")
        elif tuple(np.shape(weights[name])) != tuple(shape):
            problems.append(f"{name}: shape {tuple(np.shape(weights[name]))}, expected {shape}")
    for name in weights:
        if name not in expected:
            problems.append(f"unexpected {name} (shape {tuple(np.shape(weights[name]))})")
    if problems:
        raise WeightsError(
            f"{len(problems)} weight(s) do not fit model {spec.name!r} "
            f"(spec {spec.hash}):\n  " + "\n  ".join(problems)
        )


def umask() -> int:
    """This process's umask, read without changing it (/proc/self/status ``Umask``); where
    that is unavailable, set-and-restore under a lock. Default on a typical system: 0o022."""
    with contextlib.suppress(OSError, ValueError):  # no /proc: fall back below
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def atomic_write(path: str | os.PathLike, write: Any) -> Path:
    """Call ``write(tmp_path)`` then rename into ``path``; nothing is left behind on failure.
    The file gets the mode a plain ``open`` would (0o666 under the umask: 0644 by default),
    not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class DirInUse(ValueError):
    """Another process holds a directory's lock (`dir_lock`)."""


@contextlib.contextmanager
def dir_lock(
    directory: str | os.PathLike, what: str = "run directory", pid_file: bool = True
) -> Iterator[Path]:
    """Hold an exclusive ``fcntl.flock`` for the block: on ``directory/.lock`` (created 0o666
    under the umask, holding the pid) or, with ``pid_file=False``, on the directory itself
    (nothing written). `DirInUse` at once if another process holds it."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT, 0o666) if pid_file else os.open(d, 0)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() if pid_file else ""
            raise DirInUse(f"{what} {d} is in use by pid {pid or '?'}") from None
        if pid_file:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield d
    finally:
        os.close(fd)  # closing releases the flock


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """`atomic_write` for text: the file appears whole or not at all."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def save_weights(
    path: str | os.PathLike,
    spec: ModelSpec,
    weights: dict[str, np.ndarray],
    framework: str = "numpy",
    extra: dict[str, str] | None = None,
) -> Path:
    """Validate and write ``weights`` as safetensors (atomically) with the spec in metadata."""
    from safetensors.numpy import save_file

    check_weights(spec, weights)
    tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
    meta = {
        "format": FORMAT,
        "model": spec.name,
        "spec_hash": spec.hash,
        "spec": spec.to_json(),
        "framework": framework,
        "triptych_version": __version__,
    }
    meta.update(extra or {})
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a triptych safetensors file, without reading the tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception as e:  # safetensors raises its own error types for a corrupt header
        raise WeightsError(f"{path} is not a readable safetensors file: {e}") from None
    if meta.get("format") != FORMAT or "spec" not in meta:
        raise WeightsError(
            f"{path} has no triptych metadata (format {meta.get('format')!r}); "
            f"write it with Model.save or triptych.common.weights.save_weights"
        )
    return meta


def load_weights(
    path: str | os.PathLike,
) -> tuple[ModelSpec, dict[str, np.ndarray], dict[str, str]]:
    """Read a file written by `save_weights`: (spec, weights, metadata), validated."""
    from safetensors.numpy import load_file

    meta = read_metadata(path)
    spec = ModelSpec.from_dict(json.loads(meta["spec"]))
    if spec.hash != meta.get("spec_hash"):
        raise WeightsError(
            f"{path}: spec hash {spec.hash} does not match recorded {meta.get('spec_hash')}"
        )
    weights = load_file(str(path))
    check_weights(spec, weights)
    return spec, weights, meta
