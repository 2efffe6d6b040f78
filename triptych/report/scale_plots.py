"""PNG plots of the scale suite (throughput vs batch, fraction of peak, memory vs batch) and
of time to quality (the quality metric against the training clock, the target marked).
matplotlib's Agg backend; files written atomically."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from triptych.bench.scale import SCALE_MODELS, label_of
from triptych.common.weights import atomic_write

MODE_STYLE = {"train": "-", "infer": "--", "ort": ":"}
MARKERS = "osD^v<>"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path, plt: Any) -> Path:
    try:
        fig.tight_layout()
        return atomic_write(path, lambda t: fig.savefig(t, format="png", dpi=100))
    finally:
        plt.close(fig)


def _series(
    results: list[dict[str, Any]], label: str, value: str
) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
    """(framework, mode, variant) -> [(batch, value)] for the ok cells of ``label``."""
    out: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)
    for r in results:
        c = r["cell"]
        if r["status"] == "ok" and label_of(c) == label and r.get(value) is not None:
            out[(c["framework"], c["mode"], c["variant"])].append((c["batch"], float(r[value])))
    return {k: sorted(v) for k, v in sorted(out.items())}


def _by_batch(
    results: list[dict[str, Any]],
    value: str,
    ylabel: str,
    path: Path,
    models: tuple[Any, ...] = SCALE_MODELS,
) -> Path:
    """One panel per model of ``models`` (default the scale suite's): ``value`` against
    batch, a line per framework × mode × variant (colour: framework, line: mode, marker:
    variant)."""
    plt = _plt()
    fws = sorted({r["cell"]["framework"] for r in results})
    colours = {fw: f"C{i}" for i, fw in enumerate(fws)}
    cols = 3
    n_rows = (len(models) + cols - 1) // cols
    fig, axes = plt.subplots(n_rows, cols, figsize=(5.2 * cols, 3.8 * n_rows), squeeze=False)
    for ax, m in zip(axes.ravel(), models, strict=False):
        series = _series(results, m.label, value)
        if len(m.batches) == 1:  # one batch: a bar per framework × mode × variant
            keys = list(series)
            ax.bar(
                range(len(keys)),
                [series[k][0][1] for k in keys],
                color=[colours[k[0]] for k in keys],
            )
            ax.set_xticks(range(len(keys)), [" ".join(k) for k in keys], rotation=90, fontsize=6)
            if value != "percent_of_peak":
                ax.set_yscale("log")
            ax.set(title=f"{m.label}, batch {m.batches[0]}", ylabel=ylabel)
            continue
        for (fw, mode, variant), pts in series.items():
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                ls=MODE_STYLE[mode],
                marker="o" if variant == "default" else "s",
                ms=4,
                color=colours[fw],
                label=f"{fw} {mode} {variant}",
            )
        ax.set_xscale("log", base=2)
        if value != "percent_of_peak":
            ax.set_yscale("log")
        ax.set(title=m.label, xlabel="batch", ylabel=ylabel)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=5, ncol=2)
    for ax in axes.ravel()[len(models) :]:
        ax.axis("off")
    return _save(fig, path, plt)


def scale_plots(
    results: list[dict[str, Any]], out: Path, models: tuple[Any, ...] = SCALE_MODELS
) -> dict[str, Path]:
    """Per model of ``models`` (default the scale suite's): throughput.png (samples/s),
    fraction_of_peak.png (% of the fp32 matmul peak) and
    memory.png (worker peak RSS), each against batch per model; gpu_memory.png (the most the
    framework's allocator held on the GPU) when cells ran on one."""
    pct = [
        {**r, "percent_of_peak": 100 * r["fraction_of_peak"]}
        if r["status"] == "ok" and r.get("fraction_of_peak") is not None
        else r
        for r in results
    ]
    return {
        "throughput": _by_batch(
            results, "samples_per_s", "samples/s", out / "throughput.png", models
        ),
        "fraction_of_peak": _by_batch(
            pct, "percent_of_peak", "% of fp32 peak", out / "fraction_of_peak.png", models
        ),
        "memory": _by_batch(results, "peak_rss_mib", "peak RSS MiB", out / "memory.png", models),
        **(
            {
                "gpu_memory": _by_batch(
                    gpu, "device_peak_mib", "GPU MiB", out / "gpu_memory.png", models
                )
            }
            if (gpu := [r for r in results if r.get("device_peak_mib") is not None])
            else {}
        ),
    }


def ttq_plot(doc: dict[str, Any], out: Path) -> Path:
    """time_to_quality.png: per task, the quality metric against the training clock (s) per
    framework, the target as a dashed line and a star where it was met."""
    plt = _plt()
    targets = doc["targets"]
    fig, axes = plt.subplots(1, len(targets), figsize=(5.2 * len(targets), 3.8), squeeze=False)
    for ax, t in zip(axes.ravel(), targets, strict=True):
        for i, run in enumerate(r for r in doc["runs"] if r["task"] == t["task"]):
            if run["status"] != "ok" or not run["evaluations"]:
                continue
            xs = [e["train_seconds"] for e in run["evaluations"]]
            ys = [e["value"] for e in run["evaluations"]]
            ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], ms=3, color=f"C{i}",
                    label=run["framework"])  # fmt: skip
            if run["reached"]:
                ax.plot([run["seconds"]], [ys[-1]], marker="*", ms=14, color=f"C{i}")
        ax.axhline(t["threshold"], color="red", ls="--", lw=1, label=f"target {t['threshold']:g}")
        if not t["higher_is_better"]:
            ax.set_yscale("log")
        ax.set(title=f"{t['task']}: {t['metric']}", xlabel="training clock s", ylabel=t["metric"])
        ax.legend(fontsize=7)
    return _save(fig, out / "time_to_quality.png", plt)
