"""report.html of a tour run: self-contained (images embedded as data: URIs, inline CSS, no
network), parity colour-coded by error magnitude."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from triptych.report.tables import TRAIN_COLUMNS, training_loss_spread, worst

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{margin-bottom:0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
.ok{background:#d8f5d8}.warn{background:#fff1c2}.bad{background:#f8c8c8}
.grid{display:flex;flex-wrap:wrap;gap:12px}.grid figure{margin:0}
figcaption{font-size:12px;color:#555}img{max-width:100%;border:1px solid #eee}
.muted{color:#777;font-size:13px}
"""


def _img(path: str | Path, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    w = f' width="{width}"' if width else ""
    return f'<img alt="{html.escape(alt)}"{w} src="data:image/png;base64,{data}">'


def _figure(path: str | Path, caption: str, width: int | None = None) -> str:
    return (
        f"<figure>{_img(path, caption, width)}<figcaption>{html.escape(caption)}"
        f"</figcaption></figure>"
    )


def _err_class(value: float) -> str:
    return "ok" if value <= 1e-6 else "warn" if value <= 1e-5 else "bad"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _parity(part: dict[str, Any], root: Path) -> str:
    rows = []
    for m, row in part["models"].items():
        p = row["parity"]
        cells = [m]
        for level in (1, 2, 3):
            v = worst(p, level)
            cells.append(f'<td class="{_err_class(v)}">{v:.2e}</td>')
        l4 = training_loss_spread(p)
        cells.append(
            "-" if l4 is None else f'<td class="{"ok" if l4 <= 1e-4 else "bad"}">{l4:.2e}</td>'
        )
        cells.append(
            "bitwise" if row["weights_round_trip_exact"] else '<td class="bad">differs</td>'
        )
        cells.append('<td class="ok">pass</td>' if p["passed"] else '<td class="bad">FAIL</td>')
        rows.append(cells)
    plots = [
        _figure(root / r["training_parity_plot"], f"training parity: {m}")
        for m, r in part["models"].items()
        if r.get("training_parity_plot")
    ]
    return (
        "<h2>Parity</h2><p class=muted>Worst max |diff| per level over every network, "
        "framework (pair) and batch 1 and 37. Green ≤ 1e-6, yellow ≤ 1e-5, red above. "
        "L1 native vs ONNX Runtime; L2 ORT vs the ONNX reference evaluator; L3 every "
        "framework pair, native and ONNX; L4 max relative loss difference over 20 SGD "
        "steps.</p>"
        + _table(["model", "L1", "L2", "L3", "L4", "weights round trip", "result"], rows)
        + "".join(plots)
    )


def _training(part: dict[str, Any]) -> str:
    rows, figures = [], []
    for name, model in part["models"].items():
        for fw, m in model["runs"].items():
            extra = ""
            if "mse_over_pca" in m:
                extra = f"MSE/PCA {m['mse_over_pca']:.4f}, angle {m['max_angle_deg']:.1f}°"
            rows.append(
                [
                    name,
                    fw,
                    str(m["steps"]),
                    *[f"{m[k]:.4g}" if k in m else "" for k, _ in TRAIN_COLUMNS],
                    f"{model['final_loss_spread']:.1%}",
                    extra,
                ]
            )
            figures.append(_figure(m["picture"], f"{name} · {fw}", 420))
    return (
        f"<h2>Autoencoders</h2><p class=muted>PCA with {part['pca']['code']} components: "
        f"test MSE <b>{part['pca']['test_mse']:.5f}</b>. Loss spread: (max - min) / min "
        "of the final training losses over frameworks.</p>"
        + _table(
            [
                "model",
                "framework",
                "steps",
                *[lbl for _, lbl in TRAIN_COLUMNS],
                "loss spread",
                "linear AE vs PCA",
            ],
            rows,
        )
        + f'<div class="grid">{"".join(figures)}</div>'
    )


def _gan(part: dict[str, Any]) -> str:
    rows, figures = [], []
    for fw, m in part["runs"].items():
        rows.append(
            [
                fw,
                f"{m['fd_digits']:.2f}",
                f"{m['fd_digits_untrained']:.1f}",
                f"{m['fd_improvement']:.1f}×",
                f"{m['mean_max_confidence']:.3f}",
                f"{m['acc_real_peak']:.2f}→{m['acc_real_last']:.2f}",
                f"{m['acc_fake_peak']:.2f}→{m['acc_fake_last']:.2f}",
            ]
        )
        figures += [
            _figure(m["samples"], f"samples · {fw}", 380),
            _figure(m["d_accuracy"], f"D accuracy · {fw}", 380),
        ]
    return (
        "<h2>GAN</h2>"
        + _table(
            [
                "framework",
                "FD-digits",
                "untrained",
                "improvement",
                "confidence",
                "D acc real",
                "D acc fake",
            ],
            rows,
        )
        + _figure(part["loss_curves"], "D and G losses, every framework")
        + f'<div class="grid">{"".join(figures)}</div>'
    )


def tour_html(results: dict[str, Any], root: Path) -> str:
    """The whole report; ``root`` is the run directory the image paths are relative to."""
    from triptych.training.transfer_table import markdown as transfer_markdown

    parts = [
        f"<h1>triptych run</h1><p>Frameworks: <b>{', '.join(results['frameworks'])}"
        f"</b> ({results['mode']} mode), started {results['started']}.</p>"
    ]
    if results["absent"]:
        parts.append(
            "<ul>"
            + "".join(
                f"<li>absent: <b>{html.escape(fw)}</b>: {html.escape(why)}</li>"
                for fw, why in results["absent"].items()
            )
            + "</ul>"
        )
    parts.append(_parity(results["parity"], root))
    parts.append(_training(results["training"]))
    if results["training"].get("gan"):
        parts.append(_gan(results["training"]["gan"]))
    if results.get("transfer"):
        parts.append(
            "<h2>Transfer learning</h2><pre>"
            + html.escape(transfer_markdown(results["transfer"]))
            + "</pre>"
        )
    serving = results.get("serving") or {}
    if serving and "skipped" not in serving:
        parts.append(
            f"<h2>Serving</h2><p><code>{html.escape(serving['model'])}</code> served "
            f"over KServe v2; one tritonclient request: output "
            f"{serving['output_shape']}, equal to in-process ORT: "
            f"<b>{'yes' if serving['exact'] else 'NO'}</b>, "
            f"{serving['latency_ms']:.1f} ms.</p>"
        )
    mach = results["machine"]
    versions = [
        f"<li>{html.escape(fw)}: {html.escape(str(v.get('version', v.get('reason'))))}</li>"
        for fw, v in mach["frameworks"].items()
    ]
    parts.append(
        f"<h2>Machine</h2><ul><li>CPU: {html.escape(mach['cpu'])} ({mach['cores']} "
        f"cores)</li><li>fp32 matmul peak: {mach['matmul_peak_gflops']:.1f} GFLOP/s"
        f"</li><li>onnxruntime {mach['onnxruntime']}, onnx {mach['onnx']}, numpy "
        f"{mach['numpy']}</li>{''.join(versions)}</ul>"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>triptych run "
        f"{results['started']}</title><style>{CSS}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )
