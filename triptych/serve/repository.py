"""Find the models to serve: one .onnx file, a directory of .onnx files, or a Triton model
repository (``<name>/config.pbtxt`` + ``<name>/<version>/model.onnx``). One onnxruntime
session per model version, made once."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triptych.export.onnx_export import load_checked
from triptych.export.ort import make_session
from triptych.serve.datatypes import FROM_ORT, TO_NUMPY
from triptych.serve.errors import ServeError
from triptych.serve.tensors import short


@dataclass(frozen=True)
class TensorMeta:
    name: str
    datatype: str
    shape: list[int]  # -1 for dynamic dimensions

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


@dataclass
class ServedModel:
    name: str
    version: str
    path: Path
    session: Any
    inputs: list[TensorMeta] = field(default_factory=list)
    outputs: list[TensorMeta] = field(default_factory=list)
    #: seconds of one batch-1 run measured at load (None: not measured; never run inline)
    run_s: float | None = None

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    @property
    def batched(self) -> bool:
        """Dim 0 of every input and output is dynamic (the batch axis)."""
        return all(t.shape and t.shape[0] == -1 for t in [*self.inputs, *self.outputs])

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": "onnxruntime_onnx",
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }


def _meta(node: Any) -> TensorMeta:
    if node.type not in FROM_ORT:
        raise ValueError(
            f"tensor {node.name!r} has type {node.type}, which is not served "
            f"(allowed: {', '.join(sorted(FROM_ORT))})"
        )
    shape = [d if isinstance(d, int) and d > 0 else -1 for d in node.shape]
    return TensorMeta(node.name, FROM_ORT[node.type], shape)


def time_batch1(model: ServedModel, repeats: int = 5) -> float | None:
    """Seconds of the fastest of ``repeats`` batch-1 runs on zeros (which also warms the
    session up); None when an input has a dynamic dimension besides the batch axis or the
    run fails (such models are never run inline)."""
    feeds = {}
    for t in model.inputs:
        dims = [1, *t.shape[1:]] if t.shape and t.shape[0] == -1 else list(t.shape)
        if any(d < 1 for d in dims):
            return None
        feeds[t.name] = np.zeros(dims, TO_NUMPY[t.datatype])
    best = float("inf")
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.session.run(model.output_names, feeds)
            best = min(best, time.perf_counter() - t0)
    except Exception:  # e.g. zeros the graph refuses: such a model just runs in threads
        return None
    return best


def load_model(name: str, version: str, path: Path, threads: int | None) -> ServedModel:
    """A checked ONNX file with its onnxruntime session (``threads``: intra-op, None = ORT's;
    spinning off, so idle ORT threads leave the cores to the server and its clients), warmed up
    and timed at batch 1 (`time_batch1`)."""
    load_checked(path)  # a corrupt file fails here with one clear message
    session = make_session(path, provider="auto", threads=threads, spinning=False)
    model = ServedModel(
        name,
        version,
        path,
        session,
        [_meta(i) for i in session.get_inputs()],
        [_meta(o) for o in session.get_outputs()],
    )
    model.run_s = time_batch1(model)
    return model


_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def sources(root: Path) -> dict[str, dict[str, Path]]:
    """name -> version -> .onnx path of the models at ``root``: one .onnx file, the ``*.onnx``
    files of a directory (version "1" each) and its Triton model folders
    (``<name>/<version>/model.onnx``). Hidden entries (a leading dot: staging folders of an
    export in progress) are skipped."""
    if root.is_file():
        if root.suffix != ".onnx":
            raise ValueError(f"{root} is not an .onnx file")
        return {root.stem: {"1": root}}
    if not root.is_dir():
        raise FileNotFoundError(f"nothing to serve at {root}")
    found: dict[str, dict[str, Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for ver in sorted(v for v in sub.iterdir() if v.is_dir() and v.name.isdigit()):
            if (ver / "model.onnx").is_file():
                found.setdefault(sub.name, {})[ver.name] = ver / "model.onnx"
    for file in sorted(root.glob("*.onnx")):
        if not file.name.startswith("."):
            found[file.stem] = {"1": file}
    return found


def signature(versions: dict[str, Path]) -> tuple:
    """What changes when a model's files are replaced: (version, inode, size, mtime) of each
    file and of its folder's config.pbtxt (an atomic export renames a new folder in: new
    inodes)."""
    out = []
    for version, path in sorted(versions.items()):
        for f in (path, path.parent.parent / "config.pbtxt"):
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((version, f.name, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


class Repository:
    """name -> version -> `ServedModel`. ``root``: where the models were found (None: built
    from objects); ``threads``: onnxruntime intra-op threads of the sessions it loads.
    `models` is replaced whole by `put` (never changed in place), so a reader that took it
    sees one consistent set."""

    def __init__(
        self,
        models: dict[str, dict[str, ServedModel]],
        root: Path | None = None,
        threads: int | None = None,
    ) -> None:
        if not models:
            raise ValueError("no models to serve")
        self.models = models
        self.root, self.threads = root, threads
        #: name -> `signature` of the files it was loaded from
        self.loaded_from: dict[str, tuple] = {}

    @classmethod
    def from_path(cls, path: str | os.PathLike, threads: int | None = None) -> Repository:
        """Models from a file, a directory of files, or a Triton repository."""
        root = Path(path)
        found = sources(root)
        bad = [n for n in found if not _NAME.match(n)]
        if bad:
            raise ValueError(f"model names must match {_NAME.pattern}: {bad}")
        if not found:
            raise ValueError(
                f"no .onnx models under {root} (expected *.onnx or <name>/<version>/model.onnx)"
            )
        models = {name: cls._load(name, versions, threads) for name, versions in found.items()}
        repo = cls(models, root, threads)
        repo.loaded_from = {name: signature(versions) for name, versions in found.items()}
        return repo

    @staticmethod
    def _load(name: str, versions: dict[str, Path], threads: int | None) -> dict[str, ServedModel]:
        return {v: load_model(name, v, p, threads) for v, p in versions.items()}

    def read(self, name: str) -> tuple[dict[str, ServedModel], tuple]:
        """Load ``name``'s versions from ``root`` again (new sessions; nothing is swapped
        yet): (versions, their `signature`). 404 when ``root`` has no such model, 400 when
        its files do not load."""
        if self.root is None or not _NAME.match(name):
            raise ServeError(404, f"no model {short(name)} in the repository")
        found = sources(self.root).get(name)
        if not found:
            raise ServeError(404, f"no model {short(name)} under {self.root}")
        try:
            return self._load(name, found, self.threads), signature(found)
        except Exception as e:  # an unreadable or invalid file: the old version stays
            raise ServeError(400, f"model {name!r} failed to load: {e}") from None

    def put(self, name: str, versions: dict[str, ServedModel] | None, sig: tuple = ()) -> None:
        """Serve ``versions`` as ``name`` (None: stop serving it), in one swap."""
        models = dict(self.models)
        if versions is None:
            models.pop(name, None)
            self.loaded_from.pop(name, None)
        else:
            models[name] = versions
            self.loaded_from[name] = sig
        self.models = models

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model (latest version when ``version`` is None); 404 when unknown."""
        versions = self.models.get(name)
        if not versions:
            raise ServeError(
                404, f"unknown model {short(name)}; served: {', '.join(sorted(self.models))}"
            )
        if version is None:
            return versions[max(versions, key=int)]
        if version not in versions:
            raise ServeError(
                404,
                f"model {name!r} has no version {short(version)}; versions: "
                f"{', '.join(sorted(versions, key=int))}",
            )
        return versions[version]
