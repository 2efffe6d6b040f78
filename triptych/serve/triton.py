"""Write a Triton/KServe model repository: ``<name>/config.pbtxt`` + ``<name>/1/model.onnx``.

config.pbtxt: platform onnxruntime_onnx, max_batch_size, inputs/outputs with TYPE_* and dims
without the batch axis, dynamic_batching.

An export is one atomic change of the repository (`publish`): the new repository is built
whole in a hidden staging folder beside it (the models already there as hard links, the
exported ones as new files), then renamed over it once (Linux ``renameat2`` with
``RENAME_EXCHANGE``; elsewhere two renames, with a moment where the folder is absent). A
server reading or polling the repository sees the old set or the new one, never a mix; an
export killed at any point leaves the old set as it was (and a staging folder that the next
export removes). Exports to the same repository take turns (a lock file beside it).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from triptych.common.weights import umask
from triptych.serve.datatypes import TO_TRITON
from triptych.serve.repository import load_model

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def config_pbtxt(name: str, onnx_path: Path, max_batch: int = 256, max_delay_us: int = 500) -> str:
    """The config.pbtxt text for one batched ONNX model."""
    model = load_model(name, "1", onnx_path, threads=1)
    if not model.batched:
        raise ValueError(
            f"{onnx_path}: dim 0 of every input and output must be the dynamic "
            f"batch axis for a Triton config with max_batch_size"
        )

    def tensors(kind: str, metas: list) -> str:
        items = []
        for t in metas:
            dims = ", ".join(str(d) for d in t.shape[1:])
            items.append(
                f'  {{\n    name: "{t.name}"\n    data_type: {TO_TRITON[t.datatype]}'
                f"\n    dims: [ {dims} ]\n  }}"
            )
        return f"{kind} [\n" + ",\n".join(items) + "\n]"

    return "\n".join(
        [
            f'name: "{name}"',
            'platform: "onnxruntime_onnx"',
            f"max_batch_size: {max_batch}",
            tensors("input", model.inputs),
            tensors("output", model.outputs),
            f"dynamic_batching {{\n  max_queue_delay_microseconds: {max_delay_us}\n}}",
            "",
        ]
    )


def write_triton_repo(
    onnx_files: dict[str, Path], repo: str | os.PathLike, max_batch: int = 256
) -> list[Path]:
    """One model directory per ``name -> .onnx``, added to (or replacing those names in) the
    repository ``repo`` in one atomic step; returns the model directories."""
    root = Path(repo).absolute()
    texts = {name: config_pbtxt(name, Path(src), max_batch) for name, src in onnx_files.items()}
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        for stale in root.parent.glob(f".{root.name}.staging-*"):  # killed exports' leftovers
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.staging-", dir=root.parent))
        try:
            os.chmod(stage, 0o777 & ~umask())
            if root.is_dir():
                _link_tree(root, stage)
            for name, src in onnx_files.items():
                model = stage / name
                (model / "1").mkdir(parents=True, exist_ok=True)
                _write(model / "1" / "model.onnx", Path(src).read_bytes())
                _write(model / "config.pbtxt", texts[name].encode())
            publish(stage, root)
        finally:
            shutil.rmtree(stage, ignore_errors=True)  # after an exchange: the old set
    return [root / name for name in onnx_files]


def publish(stage: Path, root: Path) -> None:
    """Make the complete folder ``stage`` visible as ``root`` in one rename; afterwards
    ``stage`` holds the old ``root`` (or nothing)."""
    if not root.exists():
        with contextlib.suppress(FileExistsError):  # created meanwhile: exchange below
            os.rename(stage, root)
            return
    if _exchange(stage, root):
        return
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    os.rename(root, old)
    os.rename(stage, root)
    os.rename(old, stage)


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` atomically (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # the filesystem cannot
        return False
    raise OSError(err, f"cannot exchange {a} and {b}: {os.strerror(err)}")


def _link_tree(src: Path, dst: Path) -> None:
    """``src``'s files as hard links under ``dst`` (folders made; no data copied)."""
    for folder, _, files in os.walk(src):
        target = dst / Path(folder).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            os.link(Path(folder) / f, target / f)


def _write(path: Path, data: bytes) -> None:
    """A new file (a hard link of the old set in its place is unlinked first, never written
    through), flushed to disk."""
    path.unlink(missing_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Exclusive use of ``root`` among exporters (``flock`` on ``.<root>.lock`` beside it)."""
    with open(root.with_name(f".{root.name}.lock"), "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
