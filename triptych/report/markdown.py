"""report.md of a tour run: parity, training, pictures (relative links), machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from triptych.report.tables import TRAIN_COLUMNS, training_loss_spread, worst


def _rel(path: str, root: Path) -> str:
    return os.path.relpath(path, root)


def parity_markdown(part: dict[str, Any]) -> list[str]:
    lines = [
        "## Parity",
        "",
        "Worst max |diff| per level over every network, framework (pair) and batch "
        "(1 and 37). L1 native vs ONNX Runtime, L2 ORT vs the ONNX reference evaluator, "
        "L3 every framework pair (native and ONNX), L4 training parity (max relative "
        "loss difference over 20 SGD steps).",
        "",
        "| model | L1 | L2 | L3 | L4 | weights round trip | pass |",
        "|---|---|---|---|---|---|---|",
    ]
    plots = []
    for m, row in part["models"].items():
        p = row["parity"]
        l4 = training_loss_spread(p)
        lines.append(
            f"| {m} | {worst(p, 1):.2e} | {worst(p, 2):.2e} | {worst(p, 3):.2e} | "
            f"{'-' if l4 is None else f'{l4:.2e}'} | "
            f"{'bitwise' if row['weights_round_trip_exact'] else 'DIFFERS'} | "
            f"{'yes' if p['passed'] else 'NO'} |"
        )
        if row.get("training_parity_plot"):
            plots.append(f"![training parity {m}]({row['training_parity_plot']})")
    return [*lines, "", *plots, ""]


def training_markdown(part: dict[str, Any], root: Path) -> list[str]:
    mode = "quick" if part["quick"] else "full"
    lines = [
        "## Autoencoders",
        "",
        f"Each trained in every framework with its own recipe ({mode} step counts), from "
        "the same initial weights on the same batches; evaluated on the held-out 20 % of "
        f"the digits. PCA with {part['pca']['code']} components (numpy SVD on the same "
        f"split): test MSE **{part['pca']['test_mse']:.5f}**.",
        "",
        "| model | framework | steps | "
        + " | ".join(lbl for _, lbl in TRAIN_COLUMNS)
        + " | extra |",
        "|---" * (4 + len(TRAIN_COLUMNS)) + "|",
    ]
    pictures = []
    for name, model in part["models"].items():
        for fw, m in model["runs"].items():
            cells = [f"{m[k]:.4g}" if k in m else "" for k, _ in TRAIN_COLUMNS]
            extra = ""
            if "mse_over_pca" in m:
                extra = f"MSE/PCA {m['mse_over_pca']:.4f}, max angle {m['max_angle_deg']:.1f}°"
            lines.append(f"| {name} | {fw} | {m['steps']} | " + " | ".join(cells) + f" | {extra} |")
            pictures.append(f"![{name} {fw}]({_rel(m['picture'], root)})")
        lines.append(
            f"| {name} | spread of final losses | | "
            f"{model['final_loss_spread']:.1%} |" + " |" * len(TRAIN_COLUMNS)
        )
    return [*lines, "", "### Pictures", "", *pictures, ""]


def gan_markdown(part: dict[str, Any], root: Path) -> list[str]:
    lines = [
        "## GAN",
        "",
        f"DCGAN-style generator and discriminator trained {part['steps']} steps in every "
        "framework from the same weights, on the same batches and the same noise: k "
        "discriminator steps (real labelled real, G(z) labelled fake, BCE with logits, "
        "only D updated), then one generator step through D with D fixed "
        "(non-saturating loss), Adam(2e-4, β1 0.5, eps 1e-8). FD-digits: Fréchet "
        "distance in the penultimate features of a digits classifier trained with "
        "triptych (not FID); confidence: its mean max-class probability on samples.",
        "",
        "| framework | FD-digits | untrained | improvement | confidence | "
        "D acc real peak→last | D acc fake peak→last | toward 50 % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    pictures = [f"![GAN losses]({_rel(part['loss_curves'], root)})", ""]
    for fw, m in part["runs"].items():
        lines.append(
            f"| {fw} | {m['fd_digits']:.2f} | {m['fd_digits_untrained']:.1f} | "
            f"{m['fd_improvement']:.1f}× | {m['mean_max_confidence']:.3f} | "
            f"{m['acc_real_peak']:.2f}→{m['acc_real_last']:.2f} | "
            f"{m['acc_fake_peak']:.2f}→{m['acc_fake_last']:.2f} | "
            f"{'yes' if m['toward_50_percent'] else 'no'} |"
        )
        pictures += [
            f"![GAN samples {fw}]({_rel(m['samples'], root)}) "
            f"![D accuracy {fw}]({_rel(m['d_accuracy'], root)})"
        ]
    return [*lines, "", *pictures, ""]


def tour_markdown(results: dict[str, Any], root: Path) -> str:
    lines = [
        "# triptych run",
        "",
        f"Frameworks: {', '.join(results['frameworks'])} ({results['mode']} mode)",
        "",
    ]
    for fw, why in results["absent"].items():
        lines.append(f"- absent: **{fw}**: {why}")
    lines += ["", *parity_markdown(results["parity"])]
    lines += training_markdown(results["training"], root)
    if results["training"].get("gan"):
        lines += gan_markdown(results["training"]["gan"], root)
    if results.get("transfer"):
        from triptych.training.transfer_table import markdown as transfer_md

        lines += [
            "## Transfer learning",
            "",
            "Target test accuracy, mean ± std over seeds (quick mode: fewer k, seeds and "
            "variants; the full table is in benchmarks/transfer.md).",
            "",
            transfer_md(results["transfer"]),
            "",
        ]
    serving = results.get("serving") or {}
    if serving:
        lines += ["## Serving", ""]
        if "skipped" in serving:
            lines.append(f"Skipped: {serving['skipped']}")
        else:
            lines.append(
                f"`{serving['model']}` served on {serving['url']} (KServe v2); one "
                f"request with tritonclient (binary tensors): output "
                f"{serving['output_shape']}, equal to in-process ORT: "
                f"{'yes' if serving['exact'] else 'NO'}, "
                f"{serving['latency_ms']:.1f} ms."
            )
        lines.append("")
    mach = results["machine"]
    lines += [
        "## Machine",
        "",
        f"- CPU: {mach['cpu']} ({mach['cores']} cores)",
        f"- fp32 matmul peak: {mach['matmul_peak_gflops']:.1f} GFLOP/s",
        f"- onnxruntime {mach['onnxruntime']}, onnx {mach['onnx']}, numpy {mach['numpy']}",
        *[f"- {fw}: {v.get('version', v.get('reason'))}" for fw, v in mach["frameworks"].items()],
        "",
    ]
    return "\n".join(lines)
