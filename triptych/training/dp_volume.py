"""The paper estimate's communication model against a measured two-node run on loopback.

`triptych.training.dp_estimate` predicts the bytes one data-parallel step puts on the wire:
a ring all-reduce of the gradient (S bytes of float32) sends 2(N-1)/N·S from each of N
workers, so 2(N-1)·S cross the network per step (N = 2: 2S); MXNet's parameter server has
every worker push and pull S through the server, 2N·S (N = 2: 4S). Measured here: two
`triptych train MODEL --nnodes 2 --node-rank 0/1 --coordinator 127.0.0.1:PORT` processes,
the loopback interface's byte counter (/proc/net/dev) around the whole run, at two step
counts; their difference over the extra steps is what one step costs (start-up, the initial
weight broadcast and the rendezvous cancel out). Loopback carries every byte once, so the
counter is the wire volume a network would carry (plus TCP/IP headers: 52-66 bytes per
segment of up to 64 KiB, about 0.1 %).

``python -m triptych.training.dp_volume [FRAMEWORK ...]`` writes
``benchmarks/data_parallel_volume.json`` (with provenance) and prints the table. Run it on a
machine where nothing else uses loopback: the counter is the whole machine's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from triptych.bench.provenance import provenance
from triptych.common import zoo
from triptych.common.weights import write_text_atomic
from triptych.frameworks.base import available, get_backend
from triptych.model import Model
from triptych.training.dp_estimate import gradient_bytes
from triptych.training.dp_launch import free_port

MODEL = "autoencoder"
STEPS = (4, 24)
OUT = Path("benchmarks") / "data_parallel_volume.json"
TRIPTYCH = [sys.executable, "-c", "import sys; from triptych.cli import main; sys.exit(main())"]


def loopback_bytes() -> int:
    """Bytes received on ``lo`` since boot (equal to those sent: loopback)."""
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, fields = line.partition(":")
        if name.strip() == "lo":
            return int(fields.split()[0])
    raise RuntimeError("no loopback interface in /proc/net/dev")


def two_node_run(framework: str, steps: int, out: Path, timeout_s: float = 300.0) -> int:
    """Loopback bytes of one two-node run of ``steps`` steps (both nodes on this machine);
    RuntimeError with the failed node's log tail. Both nodes are gone when it returns."""
    port = free_port()
    before = loopback_bytes()
    procs, logs = [], []
    try:
        for rank in (1, 0):
            run = out / f"n{rank}-{steps}"
            run.mkdir(parents=True, exist_ok=True)
            argv = [*TRIPTYCH, "train", MODEL, "-f", framework, "--steps", str(steps),
                    "--out", str(run), "--no-progress", "--nnodes", "2", "--node-rank",
                    str(rank), "--coordinator", f"127.0.0.1:{port}"]  # fmt: skip
            logs.append(run / "node.log")
            with logs[-1].open("w") as log:
                procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        for p, log in zip(procs, logs, strict=True):
            if p.wait(timeout=timeout_s):
                tail = log.read_text()[-1000:]
                raise RuntimeError(f"{framework} node run failed: {tail}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return loopback_bytes() - before


def predicted_bytes(framework: str, nbytes: int, nodes: int = 2) -> tuple[int, str]:
    """Wire bytes per step the estimate's model predicts, and the model's name."""
    if "parameter server" in get_backend(framework).distributed.ENGINE:
        return 2 * nodes * nbytes, "parameter server: 2N·S"
    return 2 * (nodes - 1) * nbytes, "ring all-reduce: 2(N-1)·S"


def measure(framework: str, out: Path) -> dict[str, Any]:
    """Measured and predicted bytes per step for ``framework``."""
    nbytes = gradient_bytes(Model(zoo.create_spec(MODEL), framework, seed=0))
    few, many = (two_node_run(framework, s, out) for s in STEPS)
    per_step = (many - few) / (STEPS[1] - STEPS[0])
    predicted, model = predicted_bytes(framework, nbytes)
    return {
        "framework": framework,
        "gradient_bytes": nbytes,
        "loopback_bytes": {str(s): b for s, b in zip(STEPS, (few, many), strict=True)},
        "measured_per_step": per_step,
        "predicted_per_step": predicted,
        "model": model,
        "ratio": per_step / predicted,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| framework | gradient S (bytes) | model | predicted bytes/step | measured "
             "bytes/step | measured / predicted |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['framework']} | {r['gradient_bytes']:,} | {r['model']} | "
            f"{r['predicted_per_step']:,} | {r['measured_per_step']:,.0f} | {r['ratio']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import tempfile

    wanted = (sys.argv[1:] if argv is None else argv) or [
        fw for fw in available() if not get_backend(fw).distributed.UNSUPPORTED
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="triptych-volume-") as tmp:
        for fw in wanted:
            rows.append(measure(fw, Path(tmp)))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    doc = {"provenance": provenance(threads=1), "model": MODEL, "steps": list(STEPS),
           "rows": rows}  # fmt: skip
    write_text_atomic(OUT, json.dumps(doc, indent=1))
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
