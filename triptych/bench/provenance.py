"""Where and how a benchmark ran, recorded in every results file: the git commit (and whether
the tree had local changes), the date, every framework's and library's version, the CPU
model and its vector flags, the cores the run may use and the threads each cell uses; and
the machine's load around each cell, so that a cell measured while something else ran is
marked instead of published as if the machine were quiet."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import resource
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from triptych.common import machine

#: distributions whose versions every results file records (absent ones say so)
LIBRARIES = (
    "numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "torch", "tensorflow", "keras",
    "tf2onnx", "mxnet", "dm-sonnet", "chainer", "onnx-chainer", "jax", "jaxlib", "optax",
    "safetensors", "scipy",
)  # fmt: skip
#: the CPU flags that decide which kernels the frameworks pick (oneDNN, MLAS, XLA, OpenBLAS)
FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse4", "vnni")
#: CPU (in cores) others may use during a cell before it is marked busy
BUSY_MARGIN_CORES = 0.25


def git_commit(root: Path | None = None) -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` of the checkout triptych runs from; the commit is
    ``"unknown (…)"`` outside a git checkout."""
    where = root or Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        return {"commit": f"unknown ({type(e).__name__}: not a git checkout?)", "dirty": None}
    return {"commit": sha, "dirty": bool(status.strip())}


def cpu_id() -> str:
    """``family F model M stepping S`` from /proc/cpuinfo (two parts sharing a model name,
    e.g. AMD EPYC, differ here); empty when unknown."""
    wanted = {"cpu family": "family", "model": "model", "stepping": "stepping"}
    found: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() in wanted and wanted[key.strip()] not in found:
                found[wanted[key.strip()]] = value.strip()
            if not line.strip():
                break
    return " ".join(f"{k} {v}" for k, v in found.items())


def cpu_flags() -> list[str]:
    """The vector-unit flags of /proc/cpuinfo (AVX2, AVX-512 *, AMX *, FMA, …), sorted."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(x for x in flags if x.startswith(FLAG_PREFIXES))
    return []


def library_versions() -> dict[str, str]:
    """Installed version of every `LIBRARIES` entry, ``"absent"`` when not installed."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def provenance(threads: int) -> dict[str, Any]:
    """The facts every results file starts with (``threads``: per cell)."""
    return {
        **git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": machine.cpu_name(),
        "cpu_id": cpu_id(),
        "cpu_flags": cpu_flags(),
        "cores": machine.cpu_count(),
        "threads_per_cell": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": library_versions(),
        "load_avg": loadavg(),
    }


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages (what `uptime` prints)."""
    return [round(v, 2) for v in os.getloadavg()]


def _cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU-seconds of the whole machine since boot, from /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def _children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


@dataclass
class CpuMeter:
    """CPU the rest of the machine used while a child process ran: the machine's busy
    CPU-seconds minus the waited-for children's own, over the wall time (in cores). Start it
    before `subprocess.run`, read it after."""

    busy0: float = 0.0
    steal0: float = 0.0
    child0: float = 0.0
    t0: float = 0.0

    def start(self) -> CpuMeter:
        self.busy0, self.steal0 = _cpu_seconds()
        self.child0, self.t0 = _children_cpu_seconds(), time.perf_counter()
        return self

    def read(self) -> dict[str, float]:
        """``others_cores``: cores others kept busy; ``steal_cores``: the hypervisor's steal."""
        busy, steal = _cpu_seconds()
        wall = max(time.perf_counter() - self.t0, 1e-9)
        child = _children_cpu_seconds() - self.child0
        others = max(0.0, (busy - self.busy0) - child) / wall
        steal_cores = (steal - self.steal0) / wall
        return {"others_cores": round(others, 3), "steal_cores": round(steal_cores, 3)}


@dataclass
class SelfMeter:
    """CPU the rest of the machine used while this process worked (its threads included):
    the machine's busy CPU-seconds minus this process's own over the wall time, in cores.
    The benchmark worker wraps its timed calls in it, so the window is exactly the part
    whose numbers are published."""

    busy0: float = 0.0
    steal0: float = 0.0
    own0: float = 0.0
    t0: float = 0.0

    @staticmethod
    def _own() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        return me.ru_utime + me.ru_stime + _children_cpu_seconds()

    def start(self) -> SelfMeter:
        self.busy0, self.steal0 = _cpu_seconds()
        self.own0, self.t0 = self._own(), time.perf_counter()
        return self

    def read(self) -> dict[str, float]:
        """``others_cores`` and ``steal_cores`` over the window, and its ``seconds``."""
        busy, steal = _cpu_seconds()
        wall = max(time.perf_counter() - self.t0, 1e-9)
        others = max(0.0, (busy - self.busy0) - (self._own() - self.own0)) / wall
        steal_cores = (steal - self.steal0) / wall
        return {"others_cores": round(others, 3), "steal_cores": round(steal_cores, 3),
                "seconds": round(wall, 3)}  # fmt: skip


def others_now(seconds: float = 0.5) -> float:
    """Cores busy over the next ``seconds`` (default 0.5), this process idle meanwhile."""
    busy0, _ = _cpu_seconds()
    time.sleep(seconds)
    return max(0.0, _cpu_seconds()[0] - busy0) / seconds


def spare_cores(threads: int) -> float:
    """Cores others may keep busy without slowing a cell of ``threads`` threads."""
    return max(0, machine.cpu_count() - threads) + BUSY_MARGIN_CORES


def wait_quiet(threads: int, patience_s: float = 60.0) -> dict[str, Any]:
    """Wait (up to ``patience_s``, default 60) until the machine has the cores a cell of
    ``threads`` threads needs; returns the load average and the busy cores seen last, and
    whether it was still busy."""
    waited, busy = 0.0, others_now()
    while busy > spare_cores(threads) and waited < patience_s:
        time.sleep(4.5)
        waited += 5.0
        busy = others_now()
    return {"load_avg": loadavg(), "busy_cores_before": round(busy, 3), "waited_s": waited}
