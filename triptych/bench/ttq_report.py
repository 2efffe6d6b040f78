"""The time-to-quality run's markdown (`triptych bench --suite ttq`): per task and framework,
whether the target was reached, in how many steps and seconds on the training clock. The PNG
is drawn by `triptych.report.scale_plots.ttq_plot`."""

from __future__ import annotations

from typing import Any

from triptych.bench.scale_report import appended_lines


def ttq_markdown(doc: dict[str, Any], command: str, notes: list[str] | None = None) -> str:
    targets = {t["task"]: t for t in doc["targets"]}
    lines = [
        "# Time to quality",
        "",
        f"Command: `{command}`",
        "",
        "MLPerf Training's metric: training wall time until the quality target is met, from "
        "the same initial weights and the same batches in every framework (MNIST-5k, each "
        f"model's MNIST recipe, {doc['threads']} threads, each run in its own process). The "
        "clock is the sum of the training steps' own seconds; the quality evaluations run off "
        "the clock (their time is in `eval s`).",
        "",
        f"Load average before: {doc['load_before']}, after: {doc['load_after']}; the runs "
        f"took {doc['wall_s'] / 60:.1f} min.",
        "",
        *appended_lines(doc),
        "",
        *(notes or []),
        "",
        "| task | target | framework | reached | steps | s to target | ms/step (median) | "
        "eval s | last value |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in doc["runs"]:
        t = targets[run["task"]]
        goal = f"{t['metric']} {'≥' if t['higher_is_better'] else '≤'} {t['threshold']:g}"
        if run["status"] != "ok":
            lines.append(f"| {run['task']} | {goal} | {run['framework']} | **failed**: "
                         f"{run['error'][:120]} |||||")  # fmt: skip
            continue
        last = run["evaluations"][-1]["value"] if run["evaluations"] else float("nan")
        ok = run["reached"]
        reached = "yes" if ok else f"no (in {run['steps_run']} steps)"
        steps = str(run["steps"]) if ok else ""
        seconds = f"{run['seconds']:.1f}" if ok else ""
        lines.append(
            f"| {run['task']} | {goal} | {run['framework']} | {reached} | {steps} | {seconds} | "
            f"{run['median_step_ms']:.1f} | {run['eval_seconds']:.1f} | {last:.4g} |"
        )
    lines += ["", "![time to quality](time_to_quality.png)", ""]
    return "\n".join(lines)
