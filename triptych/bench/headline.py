"""The README's ten-second table from a scale run and a time-to-quality run:
``python -m triptych.bench.headline DIR`` reads DIR/scale.json and DIR/time_to_quality.json
(when there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from triptych.bench.scale import TARGET_BATCH, TARGET_MODEL, label_of
from triptych.bench.scale_report import ok_results


def headline(scale: dict[str, Any], ttq: dict[str, Any] | None, infer_batch: int = 32) -> str:
    """The README's ten-second table: per framework, ResNet-18 32x32 train samples/s at the
    target batch (best variant), its inference samples/s natively (best variant) and through
    ORT on its own export at ``infer_batch``, and the time-to-quality seconds per task."""
    results = ok_results(scale["results"])
    label = TARGET_MODEL.label
    fws = list(dict.fromkeys(r["cell"]["framework"] for r in scale["results"]))

    def best(fw: str, mode: str, batch: int) -> str:
        rs = [
            r
            for r in results
            if label_of(r["cell"]) == label
            and r["cell"]["framework"] == fw
            and r["cell"]["mode"] == mode
            and r["cell"]["batch"] == batch
        ]
        if not rs:
            return "–"
        r = max(rs, key=lambda r: r["samples_per_s"])
        tag = " (tuned)" if r["cell"]["variant"] == "tuned" and mode != "ort" else ""
        return f"{r['samples_per_s']:.3g}{tag}"

    tasks = [t["task"] for t in ttq["targets"]] if ttq else []
    goals = {
        t["task"]: f"{t['metric']} {'≥' if t['higher_is_better'] else '≤'} {t['threshold']:g}"
        for t in (ttq["targets"] if ttq else [])
    }
    head = (
        f"| framework | ResNet-18 train, samples/s (32x32, batch {TARGET_BATCH}) | ResNet-18 "
        f"inference, samples/s (32x32, batch {infer_batch}): native | ORT on its export | "
        + " | ".join(f"time to {goals[t]} ({t}), s" for t in tasks)
        + " |"
    )
    lines = [head, "|---" * (4 + len(tasks)) + "|"]
    for fw in fws:
        row = [fw, best(fw, "train", TARGET_BATCH), best(fw, "infer", infer_batch)]
        row.append(best(fw, "ort", infer_batch))
        for t in tasks:
            run = next((r for r in ttq["runs"] if r["task"] == t and r["framework"] == fw), None)
            if run is None or run["status"] != "ok":
                row.append("failed" if run else "–")
            elif run["reached"]:
                row.append(f"{run['seconds']:.0f} ({run['steps']} steps)")
            else:
                row.append(f"not in {run['steps_run']} steps")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m triptych.bench.headline DIR``: the headline table from DIR/scale.json
    and DIR/time_to_quality.json (when there)."""
    import sys

    folder = Path((argv if argv is not None else sys.argv[1:])[0])
    ttq_path = folder / "time_to_quality.json"
    ttq = json.loads(ttq_path.read_text()) if ttq_path.exists() else None
    print(headline(json.loads((folder / "scale.json").read_text()), ttq))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
