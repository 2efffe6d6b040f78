"""Checkpoints: one atomic unit, read back without pickle, refused with one line when
tampered with or mixed, one writer per run directory, files under the user's umask."""

import json
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import triptych
from triptych.cli import main
from triptych.common import data as D
from triptych.common import zoo
from triptych.common.weights import dir_lock
from triptych.engine.checkpoint import BOUNDARIES, LINK, MANIFEST, run_lock

TRAIN = D.load_digits().split(0.2, seed=0)[0]
RECIPE = zoo.entry("linear_autoencoder").recipe.with_(checkpoint_every=2)


def _fit(framework, out, steps, resume=False, seed=0):
    model = triptych.create("linear_autoencoder", framework=framework, seed=seed)
    h = model.fit(TRAIN, steps=steps, recipe=RECIPE, progress=False, out_dir=out, resume=resume)
    return model, h


def _unit(out: Path) -> Path:
    return out / os.readlink(out / LINK)


def _rehash(unit: Path, name: str) -> None:
    import hashlib

    manifest = json.loads((unit / MANIFEST).read_text())
    manifest["sha256"][name] = hashlib.sha256((unit / name).read_bytes()).hexdigest()
    (unit / MANIFEST).write_text(json.dumps(manifest))


def _refused(framework, out, match):
    with pytest.raises(ValueError, match=match) as e:
        _fit(framework, out, 6, resume=True)
    assert "\n" not in str(e.value)


class _Bomb:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['BOMB_MARKER']}",))


def test_pickle_and_path_traversal_are_never_opened(framework, tmp_path, monkeypatch):
    out = tmp_path / "run"
    _fit(framework, out, 2)
    marker = tmp_path / "exploded"
    monkeypatch.setenv("BOMB_MARKER", str(marker))
    unit = _unit(out)
    for name in ("optimizer_g.bin", f"optimizer_g.{framework}.bin", "evil.pkl"):
        (unit / name).write_bytes(pickle.dumps(_Bomb()))
        (out / name).write_bytes(pickle.dumps(_Bomb()))
    _fit(framework, out, 4, resume=True)  # extra files beside the unit are ignored
    assert not marker.exists()
    unit = _unit(out)
    (unit / "evil.pkl").write_bytes(pickle.dumps(_Bomb()))
    manifest = json.loads((unit / MANIFEST).read_text())
    manifest["sha256"]["../../../../etc/passwd"] = "0" * 64
    manifest["sha256"]["evil.pkl"] = "0" * 64
    (unit / MANIFEST).write_text(json.dumps(manifest))
    _refused(framework, out, "lists files .*expected exactly")
    assert not marker.exists()
    (out / LINK).unlink()
    os.symlink("../../../../etc", out / LINK)
    _refused(framework, out, "points to '../../../../etc'; allowed: a .checkpoint-")


def test_flipped_bytes_and_mixed_steps_are_refused(framework, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _fit(framework, a, 2)
    _fit(framework, b, 4)
    unit = _unit(b)
    weights = unit / "weights.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-3] ^= 0x40  # a bit of the last tensor
    weights.write_bytes(bytes(blob))
    _refused(framework, b, "weights.safetensors: SHA-256 does not match the manifest")
    _fit(framework, b, 4)  # a fresh run replaces the unit
    unit = _unit(b)
    (unit / "optimizer_g.safetensors").write_bytes(
        (_unit(a) / "optimizer_g.safetensors").read_bytes()
    )
    _rehash(unit, "optimizer_g.safetensors")
    _refused(framework, b, "optimizer_g.safetensors is step 2, the checkpoint step 4: a mixed")


def test_resume_from_history_in_the_unit(framework, tmp_path):
    out = tmp_path / "run"
    _, straight = _fit(framework, tmp_path / "s", 6)
    _fit(framework, out, 4)
    (out / "history.json").write_text("[]")  # the user's copy is not what resume reads
    _, resumed = _fit(framework, out, 6, resume=True)
    assert [r["loss"] for r in resumed] == [r["loss"] for r in straight]


SCRIPT = """
import sys
import triptych
from triptych.common import data as D, zoo
recipe = zoo.entry("linear_autoencoder").recipe.with_(checkpoint_every=2)
fw, out, steps, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
m = triptych.create("linear_autoencoder", framework=fw, seed=0)
h = m.fit(D.load_digits().split(0.2, seed=0)[0], steps=steps, recipe=recipe, progress=False,
          out_dir=out, resume=resume)
print(repr([r["loss"] for r in h]))
"""


def _run(framework, out, steps, resume, kill_at=None):
    env = {k: v for k, v in os.environ.items() if k != "TRIPTYCH_TEST_KILL_AT"}
    if kill_at:
        env["TRIPTYCH_TEST_KILL_AT"] = kill_at
    cmd = [sys.executable, "-c", SCRIPT, framework, str(out), str(steps), "1" if resume else "0"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def _temporaries(out: Path) -> list[str]:
    keep = os.readlink(out / LINK) if (out / LINK).is_symlink() else None
    return sorted(
        p.name
        for p in out.iterdir()
        if (p.name.startswith(".checkpoint") and p.name != keep) or p.name.endswith(".tmp")
    )


def test_kill_at_every_write_boundary_resumes_or_refuses_cleanly(tmp_path):
    framework = triptych.frameworks()[0]  # subprocesses: one framework keeps it short
    done = _run(framework, tmp_path / "straight", 6, False)
    assert done.returncode == 0, done.stderr[-2000:]
    straight = done.stdout.strip().splitlines()[-1]
    for boundary in BOUNDARIES:
        out = tmp_path / boundary
        killed = _run(framework, out, 6, False, kill_at=f"{boundary}:4")
        assert killed.returncode == -9, (boundary, killed.stderr[-2000:])
        step = json.loads((_unit(out) / MANIFEST).read_text())["step"]
        assert step == (4 if boundary in ("switch", "cleanup") else 2), boundary
        resumed = _run(framework, out, 6, True)
        assert resumed.returncode == 0, (boundary, resumed.stderr[-2000:])
        assert resumed.stdout.strip().splitlines()[-1] == straight, boundary
        assert _temporaries(out) == [], boundary


def test_second_writer_is_refused_at_once(framework, tmp_path, capsys):
    out = tmp_path / "run"
    with run_lock(out):
        argv = ["train", "linear_autoencoder", "-f", framework, "--steps", "2"]
        assert main([*argv, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"run directory {out} is in use by pid {os.getpid()}"), err
    assert len(err.splitlines()) == 1
    with dir_lock(tmp_path / "x", "export directory", pid_file=False):
        model = triptych.create("linear_autoencoder", framework=framework)
        with pytest.raises(ValueError, match="export directory .* is in use"):
            model.export_onnx(tmp_path / "x", networks=["encoder"])


def test_files_follow_the_umask(framework, tmp_path):
    old = os.umask(0o022)
    try:
        model, _ = _fit(framework, tmp_path / "run", 2)
        exporter = "torchscript" if model.framework == "torch" else None
        model.export_onnx(tmp_path / "onnx", exporter=exporter)
    finally:
        os.umask(old)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()]
    dirs = [p for p in tmp_path.rglob("*") if p.is_dir() and not p.is_symlink()]
    assert any(p.suffix == ".onnx" for p in files) and any(p.name == MANIFEST for p in files)
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o644"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in dirs} == {"0o755"}
