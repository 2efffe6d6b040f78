"""Whether MXNet runs its oneDNN kernels on this CPU: decided before ``import mxnet`` (MXNet
reads ``MXNET_MKLDNN_ENABLED`` once, at import) from the known-answer check of
`triptych.frameworks.mxnet.onednn_check`, cached per CPU model and MXNet version.

Order: a ``MXNET_MKLDNN_ENABLED`` the user set wins (the check is not run); else a cached
verdict for this CPU and MXNet version; else the check runs once in a subprocess (about 3 s)
and its verdict is cached (``$TRIPTYCH_CACHE_DIR``, default ``~/.cache/triptych``). If the
check cannot run at all, oneDNN stays on (MXNet's default) and the reason says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ENV = "MXNET_MKLDNN_ENABLED"
#: seconds the check may take before it counts as unable to run
TIMEOUT_S = 120


@dataclass(frozen=True)
class Verdict:
    """``on``: oneDNN stays on; ``reason``: why, in one line (shown by ``triptych info``)."""

    on: bool
    reason: str


def cpu_identity() -> str:
    """The CPU's model name and ISA flags (what oneDNN dispatches on), from /proc/cpuinfo;
    the platform's processor string elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "flags") and key not in fields:
            fields[key] = value.strip()
    flags = " ".join(sorted(fields.get("flags", "").split()))
    return f"{fields.get('model name', platform.machine())} | {flags}"


def cache_file() -> Path:
    """Where this CPU's and MXNet version's verdict is kept."""
    root = Path(os.environ.get("TRIPTYCH_CACHE_DIR") or Path.home() / ".cache" / "triptych")
    try:
        mx_version = version("mxnet")
    except PackageNotFoundError:
        mx_version = "unknown"
    digest = hashlib.sha256(cpu_identity().encode()).hexdigest()[:16]
    return root / "mxnet-onednn" / f"{mx_version}-{digest}.json"


def decide(result: dict) -> Verdict:
    """The verdict for a known-answer result (`onednn_check.main`'s JSON)."""
    failed = [o for o in result.get("ops", []) if not o.get("ok")]
    if not result.get("ops"):
        return Verdict(True, "known-answer check gave no result; oneDNN left on")
    if failed:
        worst = max(failed, key=lambda o: o["rel_error"] / o["bound"])
        return Verdict(
            False,
            f"oneDNN off: known-answer check failed on this CPU ({len(failed)} op(s); "
            f"{worst['op']}: {worst['rel_error']:.1e} from float64, bound {worst['bound']:.1e})",
        )
    worst = max(result["ops"], key=lambda o: o["rel_error"] / o["bound"])
    return Verdict(
        True,
        f"oneDNN on: known-answer check passed on this CPU ({len(result['ops'])} ops; "
        f"worst {worst['op']}: {worst['rel_error']:.1e} from float64, bound "
        f"{worst['bound']:.1e})",
    )


def run_check() -> dict:
    """Run the known-answer check in a fresh process with oneDNN on; its JSON result."""
    env = {**os.environ, ENV: "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "triptych.frameworks.mxnet.onednn_check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"exit {proc.returncode}: {tail}")
    return json.loads(lines[-1])


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def verdict() -> Verdict:
    """This machine's verdict (see the module docstring); sets nothing."""
    if ENV in os.environ:
        on = os.environ[ENV].strip() not in ("0", "false")
        return Verdict(
            on, f"oneDNN {'on' if on else 'off'}: {ENV}={os.environ[ENV]} set by the user"
        )
    path = cache_file()
    try:
        cached = json.loads(path.read_text())
        return Verdict(bool(cached["on"]), str(cached["reason"]))
    except (OSError, ValueError, KeyError):
        pass
    try:
        result = run_check()
    except (OSError, RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
        return Verdict(True, f"oneDNN on: the known-answer check could not run ({e})")
    chosen = decide(result)
    with contextlib.suppress(OSError):  # an unwritable cache costs the check next time
        _write_atomic(path, json.dumps({"on": chosen.on, "reason": chosen.reason, **result}))
    return chosen


def apply() -> Verdict:
    """Decide, and set ``MXNET_MKLDNN_ENABLED=0`` for this process when oneDNN must go off.
    Call before ``import mxnet``."""
    chosen = verdict()
    if not chosen.on:
        os.environ[ENV] = "0"
    return chosen
