"""A paper estimate of data-parallel scaling to more machines, from two measurements here.

Measured on this machine:

1. the engine's all-reduce of S bytes of float32 between 2 worker processes on loopback
   (`measure_allreduce`, ``repeats`` after a barrier each; the fastest is used, the
   uncontended cost on these shared cores), at several sizes, fitted (`fit_allreduce`)
   to ``t(S) = 2·a + S/b`` (a ring of 2 workers: 2 steps, each a latency ``a``, and each
   worker sends and receives 2·(N-1)/N·S = S bytes): ``a`` the
   software latency per hop (gloo/TF collectives/ps-lite over the kernel's TCP), ``b`` the
   software bandwidth (memory copies, reduction, loopback TCP);
2. the compute of one training step at the per-worker batch (`compute_seconds`: one
   process, one thread, the framework's own step, the fastest of 30, sizes in turn).

Model (`step_seconds`), for N machines with a network of bandwidth W and latency L per hop:

    T_allreduce(N) = 2(N-1)·(a + L) + 2(N-1)/N · S · (1/b + 1/W)            (ring)
    T_step(N)      = T_compute(B/N) + T_allreduce(N)     (no overlap: one all-reduce of the
                                                          whole gradient after the backward)
    strong scaling (global batch B fixed):  E(N) = T_compute(B) / (N · T_step(N))
    weak scaling (B per worker fixed):      E(N) = T_compute(B) / (T_compute(B) + T_allreduce(N))

MXNet's ``dist_sync`` is a parameter server, not a ring: with one server every worker
pushes and pulls S bytes through the server's link, ``T(N) = 2·(a + L) + 2·N·S·(1/b + 1/W)``
(the same fit gives a and b: with N = 2 it is 2a + 4S/b, so ``b`` is scaled by 4 there).

Run: ``python -m triptych.training.dp_estimate [FRAMEWORK ...]`` writes
``benchmarks/data_parallel_estimate.json`` and prints the markdown tables. A worker of the
all-reduce measurement runs ``python -m triptych.training.dp_estimate JOB.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from triptych.common import data as D
from triptych.common import zoo
from triptych.common.recipe import Optimizer, Recipe
from triptych.common.spec import ModelSpec
from triptych.engine.trainer import BUFFERS, Trainer
from triptych.frameworks.base import get_backend
from triptych.model import Model, default_recipe
from triptych.training.dp_launch import Job, launch

#: all-reduce sizes measured (bytes), besides the model's gradient
SIZES = (4 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20)
#: assumed networks: (name, bandwidth in bytes/s, latency per hop in seconds)
NETWORKS = (("10 Gbit/s", 10e9 / 8, 25e-6), ("100 Gbit/s", 100e9 / 8, 10e-6))
MACHINES = (1, 2, 4, 8, 16)
OUT = Path("benchmarks") / "data_parallel_estimate.json"
_SIZES_FILE, _RESULT_FILE = "sizes.json", "allreduce.json"
MODULE = "triptych.training.dp_estimate"  # its workers run ``python -m MODULE JOB.json``


def scale_model() -> tuple[ModelSpec, Recipe]:
    """The scaling benchmark's model: the conv classifier on digits28 (1x28x28), SGD lr
    0.05, global batch 64 (benchmarks/data_parallel.md)."""
    spec = zoo.create_spec("classifier", image_shape=(1, 28, 28))
    return spec, default_recipe(spec).with_(optimizer=Optimizer("sgd", 0.05), batch=64)


def gradient_bytes(model: Model) -> int:
    """Bytes of float32 gradient one all-reduce carries (every parameter; not BN buffers)."""
    w = model.get_weights()
    return int(sum(v.size for k, v in w.items() if not k.endswith(BUFFERS)) * 4)


# --- measurements --------------------------------------------------------------------


def worker(job: Job) -> None:
    """One process of the all-reduce measurement: join, time every size, rank 0 writes."""
    dist = get_backend(job.framework).distributed
    rank, _ = dist.init(job.timeout_s)
    sizes = json.loads((Path(job.out_dir) / _SIZES_FILE).read_text())
    points = [[int(s), dist.time_allreduce(int(s), job.steps)] for s in sizes]
    if rank == 0:
        (Path(job.out_dir) / _RESULT_FILE).write_text(json.dumps(points))
    dist.shutdown()


def measure_allreduce(
    framework: str, sizes: list[int], repeats: int = 50, timeout_s: float = 120.0
) -> list[tuple[int, list[float]]]:
    """(bytes, seconds of every repetition) of the engine's all-reduce between 2 workers on
    loopback, one thread each."""
    with tempfile.TemporaryDirectory(prefix="triptych-allreduce-") as tmp:
        d = Path(tmp)
        (d / _SIZES_FILE).write_text(json.dumps(sorted(sizes)))
        job = Job(framework, "{}", "{}", "", 0.0, 0, repeats, 0, str(d), 2, 1, timeout_s)
        launch(job, d / "workers", timeout_s=timeout_s * 4, module=MODULE)
        return [(int(s), list(t)) for s, t in json.loads((d / _RESULT_FILE).read_text())]


def fit_allreduce(points: list[tuple[int, float]], ring: bool = True) -> tuple[float, float]:
    """(a, b): latency per hop in seconds and bandwidth in bytes/s from 2-worker (bytes,
    seconds) points, least squares on t = 2a + k·S/b (k = 1 for a ring of 2, 4 for a
    parameter server)."""
    s = np.array([p[0] for p in points], float)
    t = np.array([p[1] for p in points], float)
    slope, intercept = np.polyfit(s, t, 1, w=1.0 / t)  # relative residuals: every size counts
    k = 1.0 if ring else 4.0
    return max(float(intercept) / 2, 0.0), k / max(float(slope), 1e-30)


def compute_seconds(
    spec: ModelSpec, framework: str, recipe: Recipe, batches: list[int], repeats: int = 30
) -> dict[int, float]:
    """Seconds of one training step at each batch size: one process, one thread, the
    framework's own step; the sizes take turns (so a burst of load on these shared cores
    hits all of them) and each size's fastest of ``repeats`` counts (after 3 warm-ups)."""
    backend = get_backend(framework)
    backend.set_threads(1)
    train_set, _ = D.load_train_test("digits28", recipe.scale, 0.2, 0)
    runs = {}
    for b in batches:
        trainer = Trainer(Model(spec, framework, seed=0), recipe.with_(batch=b))
        runs[b] = (trainer, D.batches(train_set, b, seed=0), [])
    for s in range(1, repeats + 4):
        for trainer, stream, times in runs.values():
            batch = next(stream)
            t0 = time.perf_counter()
            trainer.step(s, batch, stream.__next__)
            times.append(time.perf_counter() - t0)
    return {b: float(min(times[3:])) for b, (_, _, times) in runs.items()}


# --- the model ------------------------------------------------------------------------


def allreduce_seconds(
    n: int, nbytes: int, a: float, b: float, bandwidth: float, latency: float, ring: bool
) -> float:
    """Estimated seconds of one all-reduce of ``nbytes`` over ``n`` machines (0 for one)."""
    if n == 1:
        return 0.0
    per_byte = 1.0 / b + 1.0 / bandwidth
    if ring:
        return 2 * (n - 1) * (a + latency) + 2 * (n - 1) / n * nbytes * per_byte
    return 2 * (a + latency) + 2 * n * nbytes * per_byte  # one server's link


@dataclass(frozen=True)
class Row:
    framework: str
    network: str
    machines: int
    compute_s: float  # strong scaling: T_compute(B/N)
    allreduce_s: float
    step_s: float
    strong_efficiency: float
    weak_efficiency: float


def estimate(
    framework: str,
    nbytes: int,
    a: float,
    b: float,
    compute: dict[int, float],
    batch: int,
    ring: bool = True,
) -> list[Row]:
    """The table rows for every network and machine count (``compute``: per-worker batch
    -> seconds, with ``batch`` and ``batch // N`` for every N in `MACHINES`)."""
    rows = []
    for name, bandwidth, latency in NETWORKS:
        for n in MACHINES:
            ar = allreduce_seconds(n, nbytes, a, b, bandwidth, latency, ring)
            comp = compute[batch // n]
            step = comp + ar
            rows.append(Row(framework, name, n, comp, ar, step, compute[batch] / (n * step),
                            compute[batch] / (compute[batch] + ar)))  # fmt: skip
    return rows


def markdown(rows: list[Row]) -> str:
    """The estimate as a markdown table, one row per (framework, N), the networks side by
    side (milliseconds; efficiencies in %)."""
    nets = list(dict.fromkeys(r.network for r in rows))
    head = "| framework | N | compute (B/N) |"
    head += "".join(f" all-reduce {n} |" for n in nets)
    head += "".join(f" strong eff. {n} |" for n in nets)
    head += "".join(f" weak eff. {n} |" for n in nets)
    lines = [head, "|" + "---|" * (3 + 3 * len(nets))]
    keys = list(dict.fromkeys((r.framework, r.machines) for r in rows))
    for fw, n in keys:
        by = {r.network: r for r in rows if (r.framework, r.machines) == (fw, n)}
        first = by[nets[0]]
        line = f"| {fw} | {n} | {first.compute_s * 1e3:.1f} ms |"
        line += "".join(f" {by[x].allreduce_s * 1e3:.2f} ms |" for x in nets)
        line += "".join(f" {100 * by[x].strong_efficiency:.0f} % |" for x in nets)
        line += "".join(f" {100 * by[x].weak_efficiency:.0f} % |" for x in nets)
        lines.append(line)
    return "\n".join(lines)


def tables(result: dict) -> str:
    """`markdown` of every framework in a written ``result`` (the JSON `run` writes)."""
    rows = [Row(**r) for v in result["frameworks"].values() for r in v["rows"]]
    return markdown(rows)


def run(frameworks: list[str], out: Path = OUT) -> dict:
    """Measure and estimate for ``frameworks``; writes ``out`` (JSON) and returns it."""
    spec, recipe = scale_model()
    batches = sorted({recipe.batch // n for n in MACHINES})
    result: dict = {"model": "classifier 1x28x28", "global_batch": recipe.batch,
                    "networks": NETWORKS, "frameworks": {}}  # fmt: skip
    for fw in frameworks:
        dist = get_backend(fw).distributed
        ring = not fw.startswith("mx")  # MXNet's dist_sync: a parameter server
        nbytes = gradient_bytes(Model(spec, fw, seed=0))
        raw = measure_allreduce(fw, [*SIZES, nbytes])
        # the fastest repetition: the uncontended cost (these 2 cores are shared; the
        # estimate is for dedicated machines); the median is kept beside it
        points = [(s, min(t)) for s, t in raw]
        a, b = fit_allreduce(points, ring)
        compute = compute_seconds(spec, fw, recipe, batches)
        rows = estimate(fw, nbytes, a, b, compute, recipe.batch, ring)
        result["frameworks"][fw] = {
            "engine": dist.ENGINE,
            "gradient_bytes": nbytes,
            "allreduce_min_s": points,
            "allreduce_median_s": [(s, float(np.median(t))) for s, t in raw],
            "latency_per_hop_s": a,
            "software_bandwidth_Bps": b,
            "compute_s": {str(k): v for k, v in compute.items()},
            "rows": [asdict(r) for r in rows],
        }
        print(f"{fw}: gradient {nbytes} B, a = {a * 1e6:.0f} us, b = {b / 1e9:.2f} GB/s")
        print(markdown(rows))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return result


def main(argv: list[str]) -> int:
    """``JOB.json``: one measuring worker; else measure the ``argv`` frameworks."""
    if len(argv) == 1 and argv[0].endswith(".json"):
        worker(Job.from_json(Path(argv[0]).read_text()))
        return 0
    run(argv or ["torch", "tensorflow", "mxnet"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
