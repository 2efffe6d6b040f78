"""The one row model of a tour report: a list of `Section`s (title, intro, a table of
`Cell`s, figures, preformatted text) built once from `TourResults`; the terminal, markdown
and HTML renderers only lay these out."""

from __future__ import annotations

from dataclasses import dataclass, field

from triptych.tour.results import TourResults
from triptych.training.transfer_table import markdown as transfer_markdown

TRAIN_COLUMNS = (
    ("test_mse", "test MSE"),
    ("psnr", "PSNR dB"),
    ("noisy_mse", "MSE on noisy in"),
    ("code_sparsity", "code sparsity"),
    ("hole_psnr", "hole PSNR dB"),
    ("mean_fill_psnr", "mean-fill PSNR dB"),
)


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and an optional grade (ok, warn, bad) for colouring."""

    text: str
    grade: str | None = None


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the run directory
    caption: str
    width: int | None = None


@dataclass
class Section:
    title: str
    intro: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    pre: str = ""
    bullets: list[str] = field(default_factory=list)


def grade_error(value: float) -> str:
    """ok <= 1e-6 < warn <= 1e-5 < bad (NaN is bad)."""
    return "ok" if value <= 1e-6 else "warn" if value <= 1e-5 else "bad"


def _err(value: float) -> Cell:
    return Cell(f"{value:.2e}", grade_error(value))


def _num(value: float | None, spec: str = ".4g") -> Cell:
    return Cell("" if value is None else format(value, spec))


def parity_section(results: TourResults) -> Section:
    rows = []
    for r in results.parity:
        l4 = r.training_rel
        rows.append(
            [
                Cell(r.model),
                _err(r.worst(1)),
                _err(r.worst(2)),
                _err(r.worst(3)),
                Cell("-") if l4 is None else Cell(f"{l4:.2e}", "ok" if l4 <= 1e-4 else "bad"),
                Cell("bitwise", "ok") if r.round_trip_exact else Cell("DIFFERS", "bad"),
                Cell("pass", "ok") if r.passed else Cell("FAIL", "bad"),
            ]
        )
    return Section(
        "Parity",
        "Worst max |diff| per level over every network, framework (pair) and batch (1 and "
        "37). L1 native vs ONNX Runtime, L2 ORT vs the ONNX reference evaluator, L3 every "
        "framework pair (native and ONNX), L4 training parity (max relative loss difference "
        "over 20 SGD steps). Green <= 1e-6, yellow <= 1e-5, red above.",
        ["model", "L1", "L2", "L3", "L4", "weights round trip", "result"],
        rows,
        [Figure(r.plot, f"training parity: {r.model}") for r in results.parity if r.plot],
    )


def autoencoder_section(results: TourResults) -> Section:
    part = results.autoencoders
    section = Section(
        "Autoencoders",
        f"Each trained in every framework with its own recipe ({'quick' if part.quick else 'full'}"
        " step counts) from the same initial weights on the same batches; evaluated on the "
        f"held-out 20 % of the digits. PCA with {part.pca_code} components: test MSE "
        f"{part.pca_test_mse:.5f}. Loss spread: (max - min) / min of the final training "
        "losses over frameworks.",
        [
            "model",
            "framework",
            "steps",
            "final loss",
            *[lbl for _, lbl in TRAIN_COLUMNS],
            "loss spread",
            "linear AE vs PCA",
        ],
    )
    for model in part.models():
        for i, run in enumerate(part.runs_of(model)):
            extra = ""
            if run.mse_over_pca is not None:
                extra = f"MSE/PCA {run.mse_over_pca:.4f}, angle {run.max_angle_deg:.1f}°"
            section.rows.append(
                [
                    Cell(model if i == 0 else ""),
                    Cell(run.framework),
                    Cell(str(run.steps)),
                    _num(run.final_loss),
                    *[_num(run.metrics.get(k)) for k, _ in TRAIN_COLUMNS],
                    Cell(f"{part.spread(model):.1%}" if i == 0 else ""),
                    Cell(extra),
                ]
            )
            section.figures.append(Figure(run.picture, f"{model} · {run.framework}", 420))
    return section


def gan_section(results: TourResults) -> Section:
    part = results.gan
    section = Section(
        "GAN",
        f"DCGAN-style generator and discriminator trained {part.steps} steps in every "
        "framework from the same weights, batches and noise: k discriminator steps, then one "
        "generator step through D with D fixed (non-saturating loss), Adam(2e-4, β1 0.5, eps "
        "1e-8). FD-digits: Fréchet distance in the penultimate features of a digits classifier "
        "trained with triptych (not FID); confidence: its mean max-class probability.",
        [
            "framework",
            "FD-digits",
            "untrained",
            "improvement",
            "confidence",
            "D acc real peak→last",
            "D acc fake peak→last",
            "toward 50 %",
        ],
        figures=[Figure(part.loss_curves, "D and G losses, every framework")],
    )
    for r in part.runs:
        section.rows.append(
            [
                Cell(r.framework),
                Cell(f"{r.fd_digits:.2f}"),
                Cell(f"{r.fd_digits_untrained:.1f}"),
                Cell(f"{r.fd_improvement:.1f}×"),
                Cell(f"{r.confidence:.3f}"),
                Cell(f"{r.acc_real_peak:.2f}→{r.acc_real_last:.2f}"),
                Cell(f"{r.acc_fake_peak:.2f}→{r.acc_fake_last:.2f}"),
                Cell("yes" if r.toward_50_percent else "no"),
            ]
        )
        section.figures += [
            Figure(r.samples, f"samples · {r.framework}", 380),
            Figure(r.d_accuracy, f"D accuracy · {r.framework}", 380),
        ]
    return section


def tour_sections(results: TourResults) -> list[Section]:
    """Every section of the report, in order."""
    head = Section(
        "triptych run",
        f"Frameworks: {', '.join(results.frameworks)} ({results.mode} mode), started "
        f"{results.started}.",
        bullets=[f"absent: {fw}: {why}" for fw, why in results.absent.items()],
    )
    sections = [head, parity_section(results)]
    if results.autoencoders is not None:
        sections.append(autoencoder_section(results))
    if results.gan is not None:
        sections.append(gan_section(results))
    if results.transfer is not None:
        sections.append(
            Section(
                "Transfer learning",
                "Target test accuracy, mean ± std over seeds (quick mode: fewer k, seeds and "
                "variants; the full table is in benchmarks/transfer.md).",
                pre=transfer_markdown(results.transfer),
            )
        )
    s = results.serving
    serving = Section("Serving")
    if s.skipped:
        serving.intro = f"Skipped: {s.skipped}"
    else:
        serving.intro = (
            f"{s.model} served on {s.url} (KServe v2); one request with tritonclient (binary "
            f"tensors): output {s.output_shape}, equal to in-process ORT: "
            f"{'yes' if s.exact else 'NO'}, {s.latency_ms:.1f} ms."
        )
    sections.append(serving)
    m = results.machine
    sections.append(
        Section(
            "Machine",
            bullets=[
                f"CPU: {m['cpu']} ({m['cores']} cores)",
                f"fp32 matmul peak: {m['matmul_peak_gflops']:.1f} GFLOP/s",
                f"onnxruntime {m['onnxruntime']}, onnx {m['onnx']}, numpy {m['numpy']}",
                *[
                    f"{fw}: {v.get('version', v.get('reason'))}"
                    for fw, v in m["frameworks"].items()
                ],
            ],
        )
    )
    return sections
