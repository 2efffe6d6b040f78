"""Benchmark results: JSON (every sample + environment), CSV, markdown, PNG plots."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from triptych.common.weights import atomic_write, write_text_atomic

COLUMNS = (
    "model",
    "framework",
    "mode",
    "variant",
    "batch",
    "status",
    "median_ms",
    "iqr_ms",
    "p90_ms",
    "p99_ms",
    "samples_per_s",
    "gflops",
    "fraction_of_peak",
    "peak_rss_mib",
    "error",
)


def rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        c = r["cell"]
        row = {k: c[k] for k in ("model", "framework", "mode", "variant", "batch")}
        row["status"] = r["status"]
        if r["status"] == "ok":
            row.update(
                median_ms=r["median_s"] * 1000,
                iqr_ms=r["iqr_s"] * 1000,
                p90_ms=r["p90_ms"],
                p99_ms=r["p99_ms"],
                samples_per_s=r["samples_per_s"],
                gflops=r["gflops"],
                fraction_of_peak=r["fraction_of_peak"],
                peak_rss_mib=r["peak_rss_mib"],
            )
        else:
            row["error"] = r.get("error", "")
        out.append(row)
    return out


def write_all(
    results: list[dict[str, Any]],
    env: dict[str, Any],
    out: Path,
    command: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"command": command, "environment": env, "results": results, **(extra or {})}
    text = json.dumps(doc, indent=1, default=str)
    paths = {"json": write_text_atomic(out / "bench.json", text)}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows(results))
    paths["csv"] = write_text_atomic(out / "bench.csv", buf.getvalue())
    md = markdown(results, env, command, extra)
    paths["md"] = write_text_atomic(out / "bench.md", md)
    paths.update(plots(results, out))
    return paths


def _fmt(v: Any, spec: str) -> str:
    return "" if v is None else format(v, spec)


def markdown(
    results: list[dict[str, Any]],
    env: dict[str, Any],
    command: str,
    extra: dict[str, Any] | None = None,
) -> str:
    fws = {k: v.get("version", "absent") for k, v in env["frameworks"].items()}
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores; threads per cell: "
        f"{env['threads']}; fp32 matmul peak {env['matmul_peak_gflops']:.1f} GFLOP/s "
        f"(numpy 1024²); onnxruntime {env['onnxruntime']} "
        f"({', '.join(env['ort_available_providers'])}; CUDA loads: "
        f"{env['ort_cuda_loads']}); " + ", ".join(f"{k} {v}" for k, v in fws.items()),
        "",
        "Each cell ran in its own process, warm-up excluded; median of the repeats "
        "and the interquartile range; GFLOP/s from the spec's FLOP count (training = 3 × "
        "forward).",
        "",
        "| model | framework | mode | variant | batch | median ms | IQR ms | p99 ms | "
        "samples/s | GFLOP/s | % peak | RSS MiB |",
        "|---" * 12 + "|",
    ]
    for r in rows(results):
        if r["status"] != "ok":
            lines.append(
                f"| {r['model']} | {r['framework']} | {r['mode']} | {r['variant']} | "
                f"{r['batch']} | **{r['status']}**: {r['error'][:80]} |||||||"
            )
            continue
        pct = r["fraction_of_peak"] * 100 if r["fraction_of_peak"] is not None else None
        lines.append(
            f"| {r['model']} | {r['framework']} | {r['mode']} | {r['variant']} | "
            f"{r['batch']} | {r['median_ms']:.3f} | {r['iqr_ms']:.3f} | "
            f"{r['p99_ms']:.3f} | {r['samples_per_s']:.0f} | {r['gflops']:.2f} | "
            f"{_fmt(pct, '.1f')} | {r['peak_rss_mib']:.0f} |"
        )
    lines += ["", *summary_lines(results), ""]
    if extra and extra.get("overhead"):
        lines += [
            "## Harness overhead",
            "",
            "triptych's train step against a minimal hand-written loop in the same "
            "framework, same network, batch and optimizer (median of the step times).",
            "",
            "| framework | model | batch | triptych ms | hand-written ms | overhead |",
            "|---|---|---|---|---|---|",
        ]
        for o in extra["overhead"]:
            if "error" in o:
                lines.append(
                    f"| {o['framework']} | {o.get('model', '')} | | failed: {o['error'][:80]} |||"
                )
                continue
            lines.append(
                f"| {o['framework']} | {o['model']} | {o['batch']} | "
                f"{o['triptych_ms']:.3f} | {o['plain_ms']:.3f} | "
                f"{o['overhead']:+.1%} |"
            )
    lines += ["", "![throughput](throughput.png)", "", "![train step](train_step.png)", ""]
    return "\n".join(lines)


def summary_lines(results: list[dict[str, Any]]) -> list[str]:
    """The published targets: best fraction of peak on conv models at batch 64; ORT vs the
    fastest native inference per model and batch."""
    ok = [r for r in results if r["status"] == "ok"]
    lines = ["## Targets", ""]
    conv = [
        r
        for r in ok
        if r["cell"]["batch"] == 64
        and r["cell"]["model"] in ("conv_autoencoder", "gan", "classifier", "context_encoder")
        and r["fraction_of_peak"] is not None
    ]
    if conv:
        best = max(conv, key=lambda r: r["fraction_of_peak"])
        c = best["cell"]
        lines.append(
            f"- Best fraction of peak on the conv models at batch 64: "
            f"{best['fraction_of_peak']:.1%} ({c['model']}, {c['framework']}, "
            f"{c['mode']}, {c['variant']}); target ≥ 50 %."
        )
    by: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for r in ok:
        c = r["cell"]
        if c["mode"] in ("infer", "ort"):
            key = "ort" if c["mode"] == "ort" else "native"
            prev = by[(c["model"], c["batch"])].get(key)
            by[(c["model"], c["batch"])][key] = min(prev or 1e9, r["median_s"])
    ratios = [
        (m, b, v["native"] / v["ort"])
        for (m, b), v in sorted(by.items())
        if "ort" in v and "native" in v
    ]
    if ratios:
        lines.append(
            "- ORT (fastest variant/framework export) vs fastest native inference, "
            "speed-up per model and batch (target ≥ 1.0×): "
            + ", ".join(f"{m} b{b} {x:.2f}×" for m, b, x in ratios)
        )
    failed = [r for r in results if r["status"] != "ok"]
    lines.append(f"- Cells: {len(results)}, failed or timed out: {len(failed)}.")
    return lines


def plots(results: list[dict[str, Any]], out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in results if r["status"] == "ok"]
    models = sorted({r["cell"]["model"] for r in ok})
    paths: dict[str, Path] = {}
    if not models:
        return paths
    cols = min(3, len(models))
    n_rows = (len(models) + cols - 1) // cols
    fig, axes = plt.subplots(n_rows, cols, figsize=(5 * cols, 3.6 * n_rows), squeeze=False)
    for ax, model in zip(axes.ravel(), models, strict=False):
        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for r in ok:
            c = r["cell"]
            if c["model"] == model and c["variant"] == "default":
                series[f"{c['framework']} {c['mode']}"].append((c["batch"], r["samples_per_s"]))
        for label, pts in sorted(series.items()):
            pts.sort()
            ax.loglog([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=label)
        ax.set(title=f"{model} (default variant)", xlabel="batch", ylabel="samples/s")
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(models) :]:
        ax.axis("off")
    fig.tight_layout()
    paths["throughput"] = _save(fig, out / "throughput.png", plt)
    train = [r for r in ok if r["cell"]["mode"] == "train" and r["cell"]["batch"] == 64]
    if train:
        fig, ax = plt.subplots(figsize=(max(6, len(train) * 0.35), 4))
        labels = [
            f"{r['cell']['model']}\n{r['cell']['framework'][:5]} {r['cell']['variant'][0]}"
            for r in train
        ]
        ax.bar(
            range(len(train)),
            [r["median_s"] * 1000 for r in train],
            yerr=[r["iqr_s"] * 1000 for r in train],
        )
        ax.set_xticks(range(len(train)), labels, rotation=90, fontsize=6)
        ax.set(
            ylabel="train step ms (median, IQR)",
            title="train step at batch 64 (d = default, t = tuned)",
        )
        fig.tight_layout()
        paths["train_step"] = _save(fig, out / "train_step.png", plt)
    return paths


def _save(fig: Any, path: Path, plt: Any) -> Path:
    try:
        return atomic_write(path, lambda t: fig.savefig(t, format="png", dpi=100))
    finally:
        plt.close(fig)
