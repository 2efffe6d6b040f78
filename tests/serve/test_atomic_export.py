"""Atomic model sets: `write_triton_repo` (what ``triptych export --triton-repo`` writes)
makes an export visible only when complete; an export killed by SIGKILL in the middle
leaves the previous set intact and servable, and the next export clears its leftovers."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from tiny_models import scale_model

from triptych.serve.repository import Repository, sources
from triptych.serve.triton import write_triton_repo

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals")


def _snapshot(root):
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_an_export_killed_midway_leaves_the_previous_set_intact(tmp_path):
    repo = tmp_path / "repo"
    old = {n: scale_model(tmp_path / f"{n}-old.onnx", 2.0) for n in ("a", "b")}
    write_triton_repo(old, repo)
    before = _snapshot(repo)
    new = {n: scale_model(tmp_path / f"{n}-new.onnx", 3.0) for n in ("a", "b")}
    script = textwrap.dedent(
        f"""
        import sys, time
        import triptych.serve.triton as t
        real = t._write
        def slow(path, data):  # the first file is written, then the export hangs
            real(path, data)
            print("written", flush=True)
            time.sleep(600)
        t._write = slow
        t.write_triton_repo({ {k: str(v) for k, v in new.items()}!r}, {str(repo)!r})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _snapshot(repo) == before  # nothing of the new set is visible
    assert list(tmp_path.glob(".repo.staging-*"))  # the killed export's staging folder...
    assert set(sources(repo)) == {"a", "b"}  # ...is not in the repository
    served = Repository.from_path(repo)
    assert sorted(served.models) == ["a", "b"]
    write_triton_repo(new, repo)  # the next export completes and clears the leftovers
    assert not list(tmp_path.glob(".repo.staging-*"))
    assert _snapshot(repo) != before and sorted(sources(repo)) == ["a", "b"]


def test_an_export_keeps_the_other_models_and_replaces_its_own_in_one_rename(tmp_path):
    repo = tmp_path / "repo"
    write_triton_repo({"keep": scale_model(tmp_path / "k.onnx", 5.0)}, repo)
    kept = (repo / "keep" / "1" / "model.onnx").stat().st_ino
    inode = repo.stat().st_ino
    write_triton_repo({"new": scale_model(tmp_path / "n.onnx", 6.0)}, repo)
    assert sorted(p.name for p in repo.iterdir()) == ["keep", "new"]
    assert (repo / "keep" / "1" / "model.onnx").stat().st_ino == kept  # linked, not copied
    assert repo.stat().st_ino != inode  # a new folder took the name: one rename
    assert oct((repo / "new" / "config.pbtxt").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
