"""MXNet train-step time with oneDNN off (``MXNET_MKLDNN_ENABLED=0``, what triptych ran
before the cure) and on (with triptych's cures), side by side.

    .venv/bin/python benchmarks/mxnet_onednn/bench.py [--rounds 3] [--threads 2] [--batch 64]
        [--models classifier conv_autoencoder gan resnet18 unet] [--out benchmarks/mxnet_onednn]

The switch is read by MXNet once, at import, so every measurement is its own process; the
off and on processes alternate (round 1 off/on for each model, round 2, ...) so that a load
change on a shared machine hits both alike. Each process: the model from seed 0, batch
``--batch`` of uniform [0, 1) images (GAN: z ~ N(0, 1)), ``--threads`` threads
(OMP/MKL/MXNet), the train step the benchmark suite times: supervised models one Adam(1e-4)
MSE step of the main chain (``default``: imperative Gluon; ``tuned``: hybridized with
static_alloc/static_shape); the GAN one D step + one G step (DCGAN Adam), as
`triptych.training.loop` runs them. Two warm-up steps, then ``--steps`` timed steps (fewer
when a step takes over 2 s); the table gives the median over every timed step of every
round and the on/off ratio. Writes ``results.json`` and ``results.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = ["classifier", "conv_autoencoder", "gan", "resnet18", "unet"]

CHILD = r"""
import json, os, sys, time
import numpy as np
from triptych.common import zoo
from triptych.common.recipe import Optimizer
from triptych.model import create

name, variant, batch, threads, steps = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
spec = zoo.create_spec(name)
model = create(spec, framework="mxnet", seed=0)
model.backend.set_threads(threads)
rng = np.random.default_rng(0)
if len(spec.input_shape) == 3:
    x = rng.random((batch, *spec.input_shape), dtype=np.float32)
else:
    x = rng.standard_normal((batch, *spec.input_shape)).astype(np.float32)
train = model.backend.train
if "discriminator" in spec.networks and "discriminator" not in spec.main_chain:
    opt = Optimizer("adam", 2e-4, (0.5, 0.999))
    disc = model.built("discriminator")
    d_step = train.make_discriminator_step(disc, opt)
    g_step = train.make_generator_step(
        model.built_chain(spec.main_chain), opt, rec_weight=0.0, disc=disc, adv_weight=1.0)
    real_shape = spec.networks["discriminator"].input_shape
    real = np.random.default_rng(1).uniform(-1, 1, (batch, *real_shape)).astype(np.float32)

    def step():
        fake = x
        for n in spec.main_chain:
            fake = model.forward(fake, n, training=True)
        d_step(real, fake)
        return g_step(x)
else:
    target = np.random.default_rng(1).random((batch, *spec.output_shape), dtype=np.float32)
    sup = train.make_trainer(model.built_chain(), "mse", Optimizer("adam", 1e-4),
                             tuned=variant == "tuned")
    step = lambda: sup(x, target)
for _ in range(2):
    t0 = time.perf_counter(); step(); warm = time.perf_counter() - t0
n = steps if warm < 2.0 else max(2, steps // 3)
samples = []
for _ in range(n):
    t0 = time.perf_counter(); step(); samples.append(time.perf_counter() - t0)
print("RESULT " + json.dumps({"samples_s": samples, "version": model.backend.version()}))
"""


def measure(model: str, variant: str, onednn: bool, args: argparse.Namespace) -> dict:
    """One child process; its per-step seconds and the backend's version string."""
    env = {
        **os.environ,
        "MXNET_MKLDNN_ENABLED": "1" if onednn else "0",
        "OMP_NUM_THREADS": str(args.threads),
        "MKL_NUM_THREADS": str(args.threads),
        "MXNET_CPU_WORKER_NTHREADS": str(args.threads),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    cmd = [sys.executable, "-c", CHILD, model, variant, str(args.batch), str(args.threads)]
    proc = subprocess.run([*cmd, str(args.steps)], capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": tail[:300]}


def render(rows: list[dict], args: argparse.Namespace, machine: str) -> str:
    lines = [
        f"Batch {args.batch}, {args.threads} threads, {args.rounds} alternating rounds; "
        f"{machine}. Median ms per train step over every timed step.",
        "",
        "| model | variant | oneDNN off (ms) | oneDNN on (ms) | on / off |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        off, on = r["off_ms"], r["on_ms"]
        ratio = f"{on / off:.2f}" if off and on else "–"
        err = r.get("error", "failed")
        cells = [f"{v:.1f}" if v else err for v in (off, on)]
        lines.append(f"| {r['model']} | {r['variant']} | {cells[0]} | {cells[1]} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--variants", nargs="+", default=["default", "tuned"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).parent))
    args = parser.parse_args()
    samples: dict[tuple[str, str, bool], list[float]] = {}
    errors: dict[tuple[str, str], str] = {}
    versions: set[str] = set()
    t_start = time.time()
    for rnd in range(args.rounds):
        for model in args.models:
            for variant in args.variants:
                if variant == "tuned" and model == "gan":
                    continue  # the suite has no tuned adversarial step
                for onednn in (False, True):
                    res = measure(model, variant, onednn, args)
                    key = (model, variant, onednn)
                    if "error" in res:
                        errors[(model, variant)] = res["error"]
                        print(f"round {rnd + 1} {key}: {res['error']}", flush=True)
                        continue
                    versions.add(res["version"])
                    samples.setdefault(key, []).extend(res["samples_s"])
                    med = 1000 * float(np.median(res["samples_s"]))
                    print(f"round {rnd + 1} {key}: {med:.1f} ms", flush=True)
    rows = []
    for model in args.models:
        for variant in args.variants:
            if variant == "tuned" and model == "gan":
                continue
            row: dict = {"model": model, "variant": variant}
            for onednn, tag in ((False, "off"), (True, "on")):
                s = samples.get((model, variant, onednn))
                row[f"{tag}_ms"] = 1000 * float(np.median(s)) if s else None
                row[f"{tag}_samples_s"] = s or []
            if (model, variant) in errors:
                row["error"] = errors[(model, variant)]
            rows.append(row)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "batch": args.batch,
        "threads": args.threads,
        "rounds": args.rounds,
        "steps": args.steps,
        "versions": sorted(versions),
        "machine": machine,
        "wall_s": time.time() - t_start,
    }
    (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    table = render(rows, args, machine)
    (out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
