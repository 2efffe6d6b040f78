"""What a ``publish`` run (`triptych.bench.publish`) renders: the headline table (written into
the README and docs between ``<!-- headline:begin -->`` and ``<!-- headline:end -->``),
publish.md with every table and the provenance, and the plots."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from triptych.bench.cell import Cell
from triptych.bench.publish import PUBLISH_MODELS, TUNED_BATCH
from triptych.bench.runner import disturbance
from triptych.bench.scale import label_of
from triptych.bench.scale_report import cell_table, ok_results, summary_table
from triptych.common.weights import write_text_atomic
from triptych.report.scale_plots import scale_plots, ttq_plot

BEGIN, END = "<!-- headline:begin -->", "<!-- headline:end -->"
#: (column title, model label, mode) of the headline, at `TUNED_BATCH`
HEADLINE_COLUMNS = (
    ("ResNet-18 train", "resnet18 32x32", "train"),
    ("MobileNetV2 train", "MobileNetV2 32x32", "train"),
    ("ViT-tiny train", "ViT-tiny 28x28", "train"),
    ("U-Net train", "U-Net 28x28", "train"),
    ("ResNet-18 inference", "resnet18 32x32", "infer"),
    ("ViT-tiny inference", "ViT-tiny 28x28", "infer"),
)


def best_cell(doc: dict[str, Any], fw: str, label: str, mode: str, batch: int) -> dict | None:
    """The fastest ok cell (default or tuned) of ``fw`` for that model, mode and batch."""
    rs = [
        r
        for r in ok_results(doc["results"])
        if r["cell"]["framework"] == fw
        and label_of(r["cell"]) == label
        and r["cell"]["mode"] == mode
        and r["cell"]["batch"] == batch
    ]
    return max(rs, key=lambda r: r["samples_per_s"]) if rs else None


def rate(r: dict[str, Any] | None, with_peak: bool) -> str:
    """``samples/s`` (3 significant digits), `` (t)`` when the tuned variant won, and the
    percentage of the run's peak for training."""
    if r is None:
        return "–"
    text = f"{r['samples_per_s']:.3g}"
    if r["cell"]["variant"] == "tuned" and r["cell"]["mode"] != "ort":
        text += " (t)"
    if with_peak and r.get("fraction_of_peak") is not None:
        text += f", {100 * r['fraction_of_peak']:.0f} %"
    return text


def ttq_text(doc: dict[str, Any], task: str, fw: str) -> str:
    run = next((r for r in doc["ttq"]["runs"] if r["task"] == task and r["framework"] == fw), None)
    if run is None:
        return "–"
    if run["status"] != "ok":
        return "failed"
    if not run["reached"]:
        return f"not in {run['steps_run']} steps"
    return f"{run['seconds']:.0f} s ({run['steps']} steps)"


def provenance_line(doc: dict[str, Any]) -> str:
    p, peak = doc["provenance"], doc["peak"]
    best_of = {m["best_of"] for m in peak["measurements"] if m["best_of"]}
    n = len(doc["results"])
    busy = sum(1 for r in doc["results"] if r.get("load", {}).get("busy"))
    dirty = " with local changes" if p["dirty"] else ""
    return (
        f"One `--suite publish` run, {p['date'][:10]}, commit {p['commit'][:10]}{dirty}; "
        f"{p['cpu']} ({p['cpu_id']}), "
        f"{p['threads_per_cell']} threads per cell of {p['cores']} cores; fp32 peak "
        f"{peak['gflops']:.0f} GFLOP/s (best {'/'.join(sorted(best_of))} GEMM, measured at "
        f"the start and the end); {n} cells, {busy} of them measured while other work used "
        f"the cores; {len(doc['peak_exceeded'])} above the peak."
    )


def headline(doc: dict[str, Any]) -> str:
    """The README's table: per framework, samples/s at batch `TUNED_BATCH` (training with
    its % of the run's peak) and the time to each quality target; ORT's inference row."""
    tasks = [t for t in doc["ttq"]["targets"]]
    goals = [
        f"{t['task']} to {t['metric']} {'≥' if t['higher_is_better'] else '≤'} {t['threshold']:g}"
        for t in tasks
    ]
    head = ["framework", *(c[0] for c in HEADLINE_COLUMNS), *goals]
    lines = [
        provenance_line(doc),
        "",
        f"Samples/s at batch {TUNED_BATCH}, best of the default and tuned (t) variants; "
        "training also as % of the peak; time to quality on MNIST-5k (training clock).",
        "",
        "| " + " | ".join(head) + " |",
        "|---" * len(head) + "|",
    ]
    for fw in doc["frameworks"]:
        row = [fw]
        for _title, label, mode in HEADLINE_COLUMNS:
            r = best_cell(doc, fw, label, mode, TUNED_BATCH)
            row.append(rate(r, with_peak=mode == "train"))
        row += [ttq_text(doc, t["task"], fw) for t in tasks]
        lines.append("| " + " | ".join(row) + " |")
    ort_fw = doc["settings"]["ort_export_of"]
    row = [f"ONNX Runtime ({ort_fw}'s export)"]
    for _title, label, mode in HEADLINE_COLUMNS:
        row.append(rate(best_cell(doc, ort_fw, label, "ort", TUNED_BATCH), False)
                   if mode == "infer" else "")  # fmt: skip
    lines.append("| " + " | ".join(row + [""] * len(tasks)) + " |")
    return "\n".join(lines)


def replace_headline(text: str, table: str) -> str:
    """``text`` with the block between `BEGIN` and `END` replaced by ``table``; ValueError
    when the markers are missing."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"no {BEGIN} … {END} block to write the headline into")
    return pattern.sub(lambda _m: f"{BEGIN}\n{table}\n{END}", text)


def headline_block(text: str) -> str:
    """The table between the markers of ``text`` (what `replace_headline` wrote)."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n")


def peak_table(doc: dict[str, Any]) -> list[str]:
    sizes = doc["peak"]["measurements"][0]["sizes"] if doc["peak"]["measurements"] else []
    lines = ["| when | load avg | library | " + " | ".join(f"{n}²" for n in sizes) + " |"]
    lines.append("|---" * (3 + len(sizes)) + "|")
    for m in doc["peak"]["measurements"]:
        for lib, v in m["by_library"].items():
            vals = [v["error"][:60]] if "error" in v else [f"{v[str(n)]:.0f}" for n in sizes]
            lines.append(f"| {m['when']} | {m['load_avg'][0]} | {lib} | " + " | ".join(vals) + " |")
    return lines


def busy_lines(doc: dict[str, Any]) -> list[str]:
    rows = [r for r in doc["results"] if r.get("remeasured") or r.get("load", {}).get("busy")]
    if not rows:
        return ["No cell ran while other work used the cores."]
    lines = ["| cell | others' cores, first run | others' cores, kept run | kept |",
             "|---|---|---|---|"]  # fmt: skip
    for r in rows:
        old = r.get("first_load", r["load"])
        first = f"{r.get('first_disturbance', old['others_cores'] + old['steal_cores']):.2f}"
        state = "busy (marked)" if r["load"]["busy"] else "re-measured quiet"
        kept = f"{disturbance(r):.2f}"
        lines.append(f"| {Cell(**r['cell']).key} | {first} | {kept} | {state} |")
    return lines


def ttq_table(doc: dict[str, Any]) -> list[str]:
    lines = ["| task | framework | reached | steps | s to target | ms/step | busy |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for run in doc["ttq"]["runs"]:
        if run["status"] != "ok":
            error = run["error"][:100]
            lines.append(f"| {run['task']} | {run['framework']} | failed: {error} |||||")
            continue
        lines.append(
            f"| {run['task']} | {run['framework']} | {'yes' if run['reached'] else 'no'} | "
            f"{run['steps'] or run['steps_run']} | "
            f"{run['seconds']:.1f} | {run['median_step_ms']:.1f} | {run['load']['busy']} |"
            if run["reached"]
            else f"| {run['task']} | {run['framework']} | no | {run['steps_run']} | | "
            f"{run['median_step_ms']:.1f} | {run['load']['busy']} |"
        )
    return lines


def markdown(doc: dict[str, Any]) -> str:
    p = doc["provenance"]
    versions = ", ".join(f"{k} {v}" for k, v in p["versions"].items())
    exceeded = doc["peak_exceeded"]
    lines = [
        "# Published benchmarks (one run)",
        "",
        f"Command: `{doc['command']}`; {doc['wall_s'] / 60:.0f} min. Regenerate with `make bench`.",
        "",
        f"- commit {p['commit']}{' (with local changes)' if p['dirty'] else ''}, {p['date']}",
        f"- CPU: {p['cpu']} ({p['cpu_id']}); {p['cores']} cores, "
        f"{p['threads_per_cell']} threads per cell; flags: {' '.join(p['cpu_flags'])}",
        f"- {p['platform']}, Python {p['python']}; {versions}",
        "",
        "## Headline",
        "",
        headline(doc),
        "",
        "## The peak (GFLOP/s, fp32 GEMM, best of 10 per size)",
        "",
        *peak_table(doc),
        "",
        "Cells above 100 % of the peak: "
        + (", ".join(exceeded) + " — **the peak is wrong**" if exceeded else "none."),
        "",
        "## Load",
        "",
        "Before each cell the run waits (up to 60 s) for the cores it needs; it records the "
        "cores others (and a hypervisor's steal) used while the cell was timed (from "
        "/proc/stat, less the cell's own CPU time) and re-measures, once, every cell that ran "
        "beside other work.",
        "",
        *busy_lines(doc),
        "",
        "## Samples/s per model and batch",
        "",
        *summary_table(doc["results"], doc["frameworks"], PUBLISH_MODELS),
        "",
        "![throughput](throughput.png) ![fraction of peak](fraction_of_peak.png)",
        "",
        "## Time to quality",
        "",
        *ttq_table(doc),
        "",
        "![time to quality](time_to_quality.png)",
        "",
        "## Every cell",
        "",
        *cell_table(doc["results"]),
        "",
    ]
    return "\n".join(lines)


def write_reports(doc: dict[str, Any], out: Path, headline_into: list[Path]) -> list[Path]:
    """publish.md, the plots, and the headline written into each of ``headline_into``."""
    paths = [write_text_atomic(out / "publish.md", markdown(doc))]
    paths += list(scale_plots(doc["results"], out, PUBLISH_MODELS).values())
    if doc["ttq"]["runs"]:
        paths.append(ttq_plot(doc["ttq"], out))
    table = headline(doc)
    for target in headline_into:
        paths.append(write_text_atomic(target, replace_headline(target.read_text(), table)))
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m triptych.report.publish_report DIR [FILE ...]``: render DIR/publish.json
    again (publish.md, plots) and write its headline into each FILE."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0])
    doc = json.loads((out / "publish.json").read_text())
    for p in write_reports(doc, out, [Path(a) for a in args[1:]]):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
