"""Checkpoints: one atomic unit per save, read back without pickle, one writer per run.

A run directory holds::

    .lock                          flock'ed by the one process training into it
    checkpoint -> .checkpoint-XXXX symlink to the current unit (switched by one rename)
    .checkpoint-XXXX/              the unit, written whole before the switch:
        weights.safetensors        canonical weights; metadata: step, recipe, seed, spec
        optimizer_<role>.safetensors   optimizer state (`triptych.common.adam` names), step
        history.json, history.csv  the history up to this step
        manifest.json              format, step, framework, SHA-256 of every file above
    checkpoint.safetensors -> checkpoint/weights.safetensors   (for evaluate, --init)

Every name is fixed here (roles are the trainer's own: ``main``, ``g``, ``d``); nothing
read from a file names another file. ``--resume`` checks the link, the manifest, every hash
and every file's step, and refuses a fault with one line naming the file. Stale temporary
files and directories (an interrupted save) are removed by the next save or resume.

Test hook: ``TRIPTYCH_TEST_KILL_AT=<boundary>`` or ``<boundary>:<step>`` makes the process
SIGKILL itself at that point of a save (boundaries: `BOUNDARIES`), for the kill tests.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from triptych.common.weights import (
    WeightsError,
    atomic_write,
    dir_lock,
    load_weights,
    save_weights,
    umask,
)
from triptych.engine.history import History
from triptych.frameworks.base import ModelLike

#: the user-facing weights (a link into the current unit)
CHECKPOINT = "checkpoint.safetensors"
LINK = "checkpoint"
UNIT_PREFIX = ".checkpoint-"
LINK_TMP_PREFIX = ".checkpoint.link-"
WEIGHTS = "weights.safetensors"
MANIFEST = "manifest.json"
HISTORY = ("history.json", "history.csv")
LOCK = ".lock"
FORMAT = "triptych.checkpoint/1"
#: where TRIPTYCH_TEST_KILL_AT can stop a save: after the weights, after all files, after
#: the manifest, after the switch, after the old unit's removal
BOUNDARIES = ("weights", "files", "manifest", "switch", "cleanup")
_UNIT_RE = re.compile(r"^\.checkpoint-[A-Za-z0-9_]{1,32}$")
_ROLE_RE = re.compile(r"^[a-z]{1,16}$")
_MAX_MANIFEST = 1 << 20  # bytes

F = TypeVar("F", bound=Callable[..., Any])


def _kill_point(boundary: str, step: int) -> None:
    """Test hook: SIGKILL this process at ``boundary`` when TRIPTYCH_TEST_KILL_AT names it."""
    want = os.environ.get("TRIPTYCH_TEST_KILL_AT")
    if want and want in (boundary, f"{boundary}:{step}"):
        os.kill(os.getpid(), signal.SIGKILL)


def _mode(kind: int) -> int:
    """``kind`` (0o666 files, 0o777 directories) under this process's umask."""
    return kind & ~umask()


def optimizer_file(role: str) -> str:
    """The fixed file name of ``role``'s optimizer state."""
    if not _ROLE_RE.match(role):
        raise ValueError(f"optimizer role {role!r}: lowercase letters only (main, g, d)")
    return f"optimizer_{role}.safetensors"


def _expected_files(roles: list[str]) -> list[str]:
    return [WEIGHTS, *(optimizer_file(r) for r in roles), *HISTORY]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the lock ------------------------------------------------------------------------------


def run_lock(run_dir: str | os.PathLike | None) -> contextlib.AbstractContextManager:
    """Hold ``run_dir/.lock`` (``fcntl.flock``) for the block; `DirInUse` ("run directory X
    is in use by pid N") at once if another process holds it. ``None``: no lock."""
    return contextlib.nullcontext() if run_dir is None else dir_lock(run_dir, "run directory")


def one_writer(fn: F) -> F:
    """Decorator: ``fn(..., out_dir=D)`` runs holding `run_lock` on D."""

    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with run_lock(kwargs.get("out_dir")):
            return fn(*args, **kwargs)

    return locked  # type: ignore[return-value]


# --- save ----------------------------------------------------------------------------------


def _current_unit(run_dir: Path) -> Path | None:
    """The unit ``checkpoint`` links to, checked; None when there is no link."""
    link = run_dir / LINK
    if not link.is_symlink():
        if link.exists():
            raise ValueError(
                f"--resume: {link} is not a checkpoint link (a stray file or directory); "
                f"move it away"
            )
        return None
    target = os.readlink(link)
    if not _UNIT_RE.match(target):
        raise ValueError(
            f"--resume: {link} points to {target!r}; allowed: a {UNIT_PREFIX}* directory "
            f"in the run directory"
        )
    unit = run_dir / target
    if unit.is_symlink() or not unit.is_dir():
        raise ValueError(f"--resume: {link} points to {target!r}, which is not a directory")
    return unit


def clean_stale(run_dir: str | os.PathLike) -> list[str]:
    """Remove what an interrupted save left: units the link does not name, temporary links
    and atomic-write temporaries; returns the names removed."""
    d = Path(run_dir)
    if not d.is_dir():
        return []
    link = d / LINK
    keep = os.readlink(link) if link.is_symlink() else None
    removed = []
    for p in d.iterdir():
        name = p.name
        if name.startswith(UNIT_PREFIX) and name != keep and not p.is_symlink() and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif name.startswith(LINK_TMP_PREFIX) or (
            name.startswith(".") and name.endswith(".tmp") and p.is_file()
        ):
            p.unlink(missing_ok=True)
        else:
            continue
        removed.append(name)
    return removed


def _save_state(path: Path, state: dict[str, np.ndarray], step: int, framework: str) -> None:
    from safetensors.numpy import save_file

    # shape kept: np.ascontiguousarray turns a 0-d array (Keras's ``iteration``) into (1,)
    tensors = {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in state.items()}
    meta = {"step": str(step), "framework": framework}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))  # 0644, not 0600


def save_checkpoint(
    out_dir: str | os.PathLike,
    model: ModelLike,
    step: int,
    recipe_json: str,
    optimizers: dict[str, Any],
    seed: int,
    history: Any = None,
) -> Path:
    """Write weights, optimizer states (``step_obj.state()``), ``history`` (a `History`) and
    a manifest into a fresh unit, then switch ``checkpoint`` to it with one rename; returns
    the weights path. Stale units and temporaries are removed first, the old unit after."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean_stale(out)
    old = _current_unit(out)
    unit = Path(tempfile.mkdtemp(prefix=UNIT_PREFIX, dir=out))
    os.chmod(unit, _mode(0o777))
    extra = {"step": str(step), "recipe": recipe_json, "seed": str(seed)}
    save_weights(unit / WEIGHTS, model.spec, model.get_weights(), model.framework, extra=extra)
    _kill_point("weights", step)
    for role, step_obj in optimizers.items():
        _save_state(unit / optimizer_file(role), step_obj.state(), step, model.framework)
    (History() if history is None else history).save(unit)
    files = _expected_files(list(optimizers))
    for name in files:
        _fsync(unit / name)
    _kill_point("files", step)
    manifest = {
        "format": FORMAT,
        "step": step,
        "framework": model.framework,
        "roles": list(optimizers),
        "sha256": {name: _sha256(unit / name) for name in files},
    }
    (unit / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    _fsync(unit / MANIFEST)
    _fsync(unit)
    _kill_point("manifest", step)
    tmp_link = out / f"{LINK_TMP_PREFIX}{unit.name[len(UNIT_PREFIX) :]}"
    os.symlink(unit.name, tmp_link)
    os.replace(tmp_link, out / LINK)  # the switch: one rename
    _fsync(out)
    _kill_point("switch", step)
    if old is not None and old != unit:
        shutil.rmtree(old, ignore_errors=True)
    _kill_point("cleanup", step)
    compat = out / CHECKPOINT
    if not compat.is_symlink() or os.readlink(compat) != f"{LINK}/{WEIGHTS}":
        compat.unlink(missing_ok=True)
        os.symlink(f"{LINK}/{WEIGHTS}", compat)
    return compat


# --- load ----------------------------------------------------------------------------------


def _read_manifest(unit: Path, roles: list[str]) -> dict[str, Any]:
    path = unit / MANIFEST
    if not path.is_file() or path.is_symlink():
        raise ValueError(f"--resume: {path} is missing; the checkpoint is incomplete")
    if path.stat().st_size > _MAX_MANIFEST:
        raise ValueError(f"--resume: {path} is larger than {_MAX_MANIFEST} bytes")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"--resume: {path} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"--resume: {path} is not a {FORMAT} manifest")
    step = manifest.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"--resume: {path}: step {step!r} is not a non-negative integer")
    hashes = manifest.get("sha256")
    expected = set(_expected_files(roles))
    if not isinstance(hashes, dict) or set(hashes) != expected:
        listed = sorted(hashes) if isinstance(hashes, dict) else hashes
        raise ValueError(
            f"--resume: {path} lists files {listed}; expected exactly {sorted(expected)}"
        )
    return manifest


def _check_files(unit: Path, manifest: dict[str, Any]) -> None:
    for name, digest in sorted(manifest["sha256"].items()):
        p = unit / name
        if p.is_symlink() or not p.is_file():
            raise ValueError(f"--resume: {p} is missing or not a regular file")
        if _sha256(p) != digest:
            raise ValueError(
                f"--resume: {p}: SHA-256 does not match the manifest (bytes changed since "
                f"the checkpoint was written)"
            )


def _load_state(path: Path, step: int, framework: str) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as e:  # safetensors' own error types for a corrupt header
        raise ValueError(f"--resume: {path} is not a readable safetensors file: {e}") from None
    if meta.get("step") != str(step):
        raise ValueError(
            f"--resume: {path} is step {meta.get('step')}, the checkpoint step {step}: a mixed set"
        )
    if meta.get("framework") != framework:
        raise ValueError(f"--resume: {path} was written by {meta.get('framework')}")
    return state


def load_checkpoint(
    out_dir: str | os.PathLike, model: ModelLike, optimizers: dict[str, Any]
) -> tuple[int, int, list[dict[str, Any]]]:
    """Restore weights and optimizer states into ``model``/``optimizers`` from the current
    unit, after checking every hash and step; returns (step, seed, history records).

    Optimizer state is framework-specific: resuming in another framework is refused.
    """
    out = Path(out_dir)
    unit = _current_unit(out)
    if unit is None:
        raise FileNotFoundError(f"--resume: no checkpoint at {out / LINK}")
    clean_stale(out)
    roles = list(optimizers)
    manifest = _read_manifest(unit, roles)
    step = manifest["step"]
    if manifest.get("framework") != model.framework:
        raise ValueError(
            f"--resume: {unit / MANIFEST} was written by {manifest.get('framework')}; "
            f"optimizer state only resumes in the same framework (asked: "
            f"{model.framework}). Start a new run with --init instead."
        )
    _check_files(unit, manifest)
    path = unit / WEIGHTS
    try:
        spec, weights, meta = load_weights(path)
    except WeightsError as e:
        raise ValueError(f"--resume: {str(e).splitlines()[0]}") from None
    if spec.hash != model.spec.hash:
        raise ValueError(
            f"--resume: {path} holds {spec.name} (spec {spec.hash}), not "
            f"{model.spec.name} ({model.spec.hash})"
        )
    if meta.get("step") != str(step) or meta.get("framework") != model.framework:
        raise ValueError(
            f"--resume: {path} is step {meta.get('step')} ({meta.get('framework')}), the "
            f"checkpoint step {step} ({model.framework}): a mixed set"
        )
    states = {r: _load_state(unit / optimizer_file(r), step, model.framework) for r in roles}
    records = json.loads((unit / HISTORY[0]).read_text())
    if not isinstance(records, list) or any(
        not isinstance(r, dict) or not isinstance(r.get("step"), int) or r["step"] > step
        for r in records
    ):
        raise ValueError(f"--resume: {unit / HISTORY[0]} has records past step {step}")
    model.set_weights(weights)
    for role, step_obj in optimizers.items():
        try:
            step_obj.load_state(states[role])
        except ValueError as e:
            raise ValueError(f"--resume: {unit / optimizer_file(role)}: {e}") from None
    return step, int(meta["seed"]), [r for r in records if r["step"] <= step]
