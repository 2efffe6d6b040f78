"""The scale suite's and the time-to-quality runs' files: JSON (every sample, the
environment) and markdown (summary, the issue's targets, every cell with its reason when it
did not run). The PNG plots are drawn by `triptych.report.scale_plots`."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from triptych.bench.scale import SCALE_MODELS, TARGET_BATCH, TARGET_FRACTION, TARGET_MODEL, label_of
from triptych.common.weights import write_text_atomic


def write_json(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(doc, indent=1, default=str))


def append_run(old: dict[str, Any], new: dict[str, Any], key: str) -> dict[str, Any]:
    """``new`` (a later run of the scale or ttq suite on some frameworks) added to ``old``:
    ``old``'s rows of those frameworks are replaced, the others kept; the later run's
    command, load and wall time are kept under ``appended`` (the markdown prints them), and
    the framework versions merged (the caller appends the later run's notes to ``old``'s).
    ``key`` is the list of rows: "results" or "runs"."""
    fws = {row.get("framework") or row["cell"]["framework"] for row in new[key]}

    def fw_of(row: dict[str, Any]) -> str:
        return row.get("framework") or row["cell"]["framework"]

    merged = dict(old)
    merged[key] = [r for r in old[key] if fw_of(r) not in fws] + list(new[key])
    env_new = new.get("environment", new)
    run = {
        "frameworks": sorted(fws),
        "command": new.get("command", ""),
        "load_before": env_new.get("load_before"),
        "load_after": env_new.get("load_after"),
        "wall_s": env_new.get("wall_s"),
    }
    if "matmul_peak_gflops" in env_new:
        run["matmul_peak_gflops"] = env_new["matmul_peak_gflops"]
    merged["appended"] = [*old.get("appended", []), run]
    if "environment" in old and "frameworks" in old["environment"]:
        env = dict(old["environment"])
        env["frameworks"] = {**env["frameworks"], **env_new.get("frameworks", {})}
        merged["environment"] = env
    return merged


def appended_lines(doc: dict[str, Any]) -> list[str]:
    """One line per later run whose rows were added (`append_run`)."""
    out = []
    for run in doc.get("appended", []):
        peak = run.get("matmul_peak_gflops")
        out.append(
            f"Rows of {', '.join(run['frameworks'])} come from a later run: `{run['command']}`; "
            f"load average before {run['load_before']}, after {run['load_after']}; "
            f"{(run['wall_s'] or 0) / 60:.1f} min"
            + (f"; its peak {peak:.1f} GFLOP/s" if peak else "")
            + "."
        )
    return out


def resumed_lines(env: dict[str, Any]) -> list[str]:
    """A line naming the earlier run whose ok cells a ``--resume`` run kept."""
    r = env.get("resumed")
    if not r:
        return []
    return [
        f"{r['cells_kept']} ok cells come from an earlier run of the same suite "
        f"(`{r['command']}`, {(r['wall_s'] or 0) / 60:.1f} min; its peak "
        + " / ".join(f"{v:.1f}" for v in (r.get("matmul_peak_before") or {}).values())
        + " GFLOP/s before it); this run ran the cells it did not reach. Each cell's % of "
        "peak refers to the peak of the run that measured it (a resumed run on another "
        "machine leaves the kept cells' fractions as they were)."
    ]


def ok_results(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results whose cell ran (status ok)."""
    return [r for r in results if r["status"] == "ok"]


def fastest(results: list[dict[str, Any]], label: str, batch: int, mode: str) -> dict | None:
    """The fastest ok cell of ``label`` at ``batch`` in ``mode`` (any framework, variant)."""
    cells = [
        r
        for r in ok_results(results)
        if label_of(r["cell"]) == label
        and r["cell"]["batch"] == batch
        and r["cell"]["mode"] == mode
    ]
    return min(cells, key=lambda r: r["median_s"]) if cells else None


def ort_vs_native(results: list[dict[str, Any]]) -> list[tuple[str, int, dict, dict, float]]:
    """(label, batch, fastest native inference cell, fastest ORT cell, speed-up of ORT) for
    every (model, batch) that has both."""
    out = []
    for m in SCALE_MODELS:
        for b in m.batches:
            native, ort = fastest(results, m.label, b, "infer"), fastest(results, m.label, b, "ort")
            if native and ort:
                out.append((m.label, b, native, ort, native["median_s"] / ort["median_s"]))
    return out


def _who(r: dict[str, Any]) -> str:
    c = r["cell"]
    return f"{c['framework']} {c['variant']}"


def target_lines(results: list[dict[str, Any]]) -> list[str]:
    """The issue's two targets, met or not, with the numbers."""
    lines = ["## Targets", ""]
    train = [
        r
        for r in ok_results(results)
        if label_of(r["cell"]) == TARGET_MODEL.label
        and r["cell"]["batch"] == TARGET_BATCH
        and r["cell"]["mode"] == "train"
    ]
    if train:
        best = max(train, key=lambda r: r["fraction_of_peak"] or 0)
        frac = best["fraction_of_peak"]
        verdict = "met" if frac >= TARGET_FRACTION else "**missed**"
        lines.append(
            f"- Best native {TARGET_MODEL.label} train step at batch {TARGET_BATCH}: "
            f"{frac:.1%} of the measured fp32 peak ({_who(best)}, "
            f"{best['median_s'] * 1000:.0f} ms, {best['gflops']:.1f} GFLOP/s); target ≥ "
            f"{TARGET_FRACTION:.0%}: {verdict}. Every framework: "
            + ", ".join(
                f"{_who(r)} {r['fraction_of_peak']:.1%}"
                for r in sorted(train, key=lambda r: -(r["fraction_of_peak"] or 0))
            )
            + "."
        )
    else:
        lines.append(f"- {TARGET_MODEL.label} train at batch {TARGET_BATCH}: no cell ran.")
    pairs = ort_vs_native(results)
    misses = [p for p in pairs if p[4] < 1.0]
    lines.append(
        f"- ORT inference ≥ the fastest native inference: {len(pairs) - len(misses)} of "
        f"{len(pairs)} (model, batch) pairs. Speed-up of the fastest ORT cell over the fastest "
        "native one: " + ", ".join(f"{lbl} b{b} {x:.2f}×" for lbl, b, _, _, x in pairs) + "."
    )
    for lbl, b, native, ort, x in misses:
        lines.append(
            f"  - miss: {lbl} b{b}: ORT ({ort['cell']['framework']} export) "
            f"{ort['median_s'] * 1000:.1f} ms vs {_who(native)} {native['median_s'] * 1000:.1f} ms"
            f" ({x:.2f}×)."
        )
    statuses: dict[str, int] = defaultdict(int)
    for r in results:
        statuses[r["status"]] += 1
    lines.append("- Cells: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + ".")
    return lines


def summary_table(
    results: list[dict[str, Any]], frameworks: list[str], models: tuple[Any, ...] = SCALE_MODELS
) -> list[str]:
    """Samples/s per (model, batch) and framework: train and inference (default / tuned)
    and ORT on that framework's export; ``models``: default the scale suite's."""
    cols = [("train", "default"), ("train", "tuned"), ("infer", "default"), ("infer", "tuned")]
    lines = [
        "| model | batch | framework | train | train tuned | infer | infer tuned | ORT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    index = {
        (label_of(r["cell"]), r["cell"]["batch"], r["cell"]["framework"], r["cell"]["mode"],
         r["cell"]["variant"]): r
        for r in results
    }  # fmt: skip
    for m in models:
        for b in m.batches:
            for fw in frameworks:
                cells = [index.get((m.label, b, fw, mode, v)) for mode, v in cols]
                cells.append(index.get((m.label, b, fw, "ort", "tuned")))
                if not any(cells):
                    continue
                lines.append(
                    f"| {m.label} | {b} | {fw} | " + " | ".join(_rate(r) for r in cells) + " |"
                )
    return lines


def _rate(r: dict[str, Any] | None) -> str:
    if r is None:
        return ""
    if r["status"] != "ok":
        return r["status"]
    return f"{r['samples_per_s']:.3g}"


def depthwise_share(results: list[dict[str, Any]]) -> list[str]:
    """Per framework and mode, the share of a MobileNetV2 32x32 step (batch 32, default
    variant) spent in its depthwise stages: 1 - t(without them) / t(with them), both cells
    of the same run."""
    ok = ok_results(results)

    def seconds(label: str, fw: str, mode: str) -> float | None:
        for r in ok:
            c = r["cell"]
            if (label_of(c), c["framework"], c["mode"], c["batch"], c["variant"]) == (
                label,
                fw,
                mode,
                32,
                "default",
            ):
                return float(r["median_s"])
        return None

    rows = []
    for fw in sorted({r["cell"]["framework"] for r in ok}):
        for mode in ("train", "infer"):
            full = seconds("MobileNetV2 32x32", fw, mode)
            without = seconds("MobileNetV2 32x32 no depthwise", fw, mode)
            if full and without:
                share = 1.0 - without / full
                rows.append(f"| {fw} | {mode} | {full * 1e3:.1f} | {without * 1e3:.1f} | "
                            f"{100 * share:.0f} % |")  # fmt: skip
    if not rows:
        return []
    return [
        "### Depthwise convolutions' share of a MobileNetV2 step (32x32, batch 32)",
        "",
        "| framework | mode | step ms | without depthwise ms | depthwise share |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def cell_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| model | batch | framework | mode | variant | ms/call | IQR ms | samples/s | GFLOP/s "
        "| % peak | RSS MiB | GPU MiB | first call s | repeats | ran on | status |",
        "|---" * 16 + "|",
    ]
    for r in results:
        c = r["cell"]
        head = f"| {label_of(c)} | {c['batch']} | {c['framework']} | {c['mode']} | {c['variant']} |"
        if r["status"] != "ok":
            lines.append(f"{head} |||||||||| **{r['status']}**: {r.get('error', '')[:160]} |")
            continue
        pct = r["fraction_of_peak"] * 100 if r["fraction_of_peak"] is not None else float("nan")
        note = "ok" if r["repeats_run"] >= c["repeats"] else "ok (time cap)"
        lines.append(
            f"{head} {r['median_s'] * 1000:.1f} | {r['iqr_s'] * 1000:.1f} | "
            f"{r['samples_per_s']:.3g} | {r['gflops']:.1f} | {pct:.1f} | "
            f"{r['peak_rss_mib']:.0f} | {_gpu_mib(r)} | {r['first_call_s']:.2f} | "
            f"{r['repeats_run']} | {ran_on(r)} | {note} |"
        )
    return lines


def ran_on(r: dict[str, Any]) -> str:
    """What really ran the cell: onnxruntime's provider for ORT cells, the GPU's name for
    native cells on one, else ``cpu``."""
    if r.get("ort_provider"):
        return r["ort_provider"]
    return r.get("device_name") or "cpu"


def _gpu_mib(r: dict[str, Any]) -> str:
    mib = r.get("device_peak_mib")
    return "" if mib is None else f"{mib:.0f}"


def _peak_source(env: dict[str, Any]) -> str:
    b, a = env["matmul_peak_before"], env["matmul_peak_after"]
    if env.get("device", "cpu") != "cpu":
        measured = (
            f"PyTorch's best 8192² strict-fp32 (TF32 off) matmul of 10 on {env['device_name']}: "
            + " / ".join(f"{v:.0f}" for v in b.values())
            + " before and "
            + " / ".join(f"{v:.0f}" for v in a.values())
            + " after the run"
        )
        return f"the largest of: {measured}"
    measured = (
        f"best 1024² fp32 matmul of 30 on {env['threads']} threads, numpy / onnxruntime: "
        f"{b['numpy']:.1f} / {b['onnxruntime']:.1f} before and {a['numpy']:.1f} / "
        f"{a['onnxruntime']:.1f} after the run"
    )
    if env.get("matmul_peak_given"):
        return f"given with --peak-gflops; measured here under load: {measured}"
    return f"the largest of: {measured}"


def scale_markdown(doc: dict[str, Any], command: str, notes: list[str] | None = None) -> str:
    env, results = doc["environment"], doc["results"]
    frameworks = list(dict.fromkeys(r["cell"]["framework"] for r in results))
    versions = {k: v.get("version", "absent") for k, v in env["frameworks"].items()}
    flops = {}
    for r in ok_results(results):
        c = r["cell"]
        if c["mode"] != "train":
            flops[label_of(c)] = r["flops_per_sample"]
    lines = [
        "# Scale benchmarks",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores"
        + (
            f"; native cells on {env['device']} ({env['device_name']}, strict fp32: TF32 off)"
            if env.get("device", "cpu") != "cpu"
            else ""
        )
        + f"; threads per cell: {env['threads']}; "
        f"fp32 matmul peak {env['matmul_peak_gflops']:.1f} GFLOP/s ({_peak_source(env)}); "
        f"onnxruntime {env['onnxruntime']} "
        f"({', '.join(env['ort_available_providers'])}); "
        + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "",
        f"Load average (1, 5, 15 min) before: {env['load_before']}, after: "
        f"{env['load_after']}; the run took {env['wall_s'] / 60:.1f} min (budget "
        f"{env['budget_s'] / 60:.1f} min, timed repeats per cell capped at "
        f"{env['max_seconds']:.0f} s, a cell at {env['cell_timeout_s']:.0f} s).",
        "",
        *appended_lines(doc),
        *resumed_lines(env),
        "",
        "FLOPs per sample (forward, from the spec): "
        + ", ".join(f"{k} {v / 1e9:.3g} G" for k, v in flops.items())
        + "; training counts 3 × forward, a GAN's D + G step 4 G + 9 D.",
        "",
        *(notes or []),
        "",
        *target_lines(results),
        "",
        "## Samples/s",
        "",
        "ORT: onnxruntime (all graph optimisations, its own default) on that framework's "
        "ONNX export. Empty: not in the suite; `skipped`/`failed`/`timeout`: see the table of "
        "every cell.",
        "",
        *summary_table(results, frameworks),
        "",
        *depthwise_share(results),
        "![throughput vs batch](throughput.png)",
        "",
        "![fraction of peak](fraction_of_peak.png)",
        "",
        "![memory vs batch](memory.png)",
        *(
            ["", "![GPU memory vs batch](gpu_memory.png)"]
            if any(r.get("device_peak_mib") is not None for r in results)
            else []
        ),
        "",
        "## Every cell",
        "",
        "Median of the timed repeats and their interquartile range; `first call s`: the first "
        "call, timed apart (graph building, torch.compile / XLA / hybridize compilation, ORT's "
        "first run); `repeats`: timed repeats run (fewer than asked when the time cap stopped "
        "them); RSS: the worker process's peak resident memory (framework, model, export, "
        "data); GPU MiB: the most the framework's allocator held on the GPU; `ran on`: "
        "onnxruntime's provider that really ran an ORT cell, the GPU or the CPU for the others.",
        "",
        *cell_table(results),
        "",
    ]
    return "\n".join(lines)
