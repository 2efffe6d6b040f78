"""The scale suite on a GPU, as far as a machine without one can check it: the device is
validated and named in the cell, frameworks that triptych runs on the CPU only are skipped
with the reason before any process starts, PyTorch asked for a GPU it does not see fails
with that message, and the report says what really ran each cell and where the peak came
from. (The run itself is published from a GPU machine: benchmarks/scale_gpu/.)"""

import json

import pytest

import triptych
from triptych.bench import scale, scale_report
from triptych.bench.cell import Cell
from triptych.bench.runner import run_one
from triptych.cli import main
from triptych.frameworks.base import FRAMEWORKS


def test_a_device_is_validated_and_part_of_the_cells_key():
    with pytest.raises(ValueError, match="unknown device 'tpu'; allowed: cpu, cuda, cuda:N"):
        Cell("gan", "torch", "train", 2, device="tpu")
    cuda = Cell("gan", "torch", "train", 2, device="cuda:1")
    assert cuda.key.endswith("|cuda:1") and Cell.from_json(cuda.to_json()) == cuda
    assert Cell("gan", "torch", "train", 2).key.count("|") == 4  # CPU keys as before


def test_the_cli_refuses_an_unknown_device_and_names_the_allowed_ones(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--suite", "scale", "--device", "gpu0"])
    assert exit_.value.code == 2
    assert "--device 'gpu0': allowed: cpu, cuda, cuda:N" in capsys.readouterr().err


@pytest.mark.parametrize("fw", sorted(FRAMEWORKS))
def test_cpu_only_frameworks_are_skipped_on_a_gpu_with_the_reason(fw):
    cells = scale.scale_cells([fw], models=scale.SCALE_MODELS[:1], device="cuda")
    native = [c for c in cells if c.mode != "ort" and c.variant == "default"]
    reasons = {scale.known_skip(c) for c in native}
    if FRAMEWORKS[fw].gpu:
        assert reasons == {None}
    else:
        assert reasons == {f"{FRAMEWORKS[fw].display} runs on the CPU only in triptych"}
    # ORT cells run the exported file with whatever provider loads, for every framework
    assert all(scale.known_skip(c) is None for c in cells if c.mode == "ort")


@pytest.mark.skipif("torch" not in triptych.frameworks(), reason="PyTorch is not installed")
def test_torch_on_a_gpu_it_does_not_see_fails_with_that_message():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: the cell would run")
    cell = Cell("linear_autoencoder", "torch", "infer", 2, repeats=1, warmup=1, device="cuda")
    result = run_one(cell)
    assert result["status"] == "failed"
    assert "device 'cuda' asked for, but PyTorch sees no CUDA GPU" in result["error"]


def _gpu_doc() -> dict:
    cell = Cell(
        "resnet18",
        "torch",
        "train",
        64,
        device="cuda",
        options={"image_shape": (3, 32, 32), "stem": "cifar"},
    )
    ort = Cell("resnet18", "torch", "ort", 64, "tuned", device="cuda", options=cell.options)
    base = {"status": "ok", "median_s": 0.01, "iqr_s": 0.001, "samples_per_s": 6400.0,
            "gflops": 10000.0, "fraction_of_peak": 0.2, "peak_rss_mib": 900.0,
            "first_call_s": 2.0, "repeats_run": 20, "flops_per_sample": 1.1e9}  # fmt: skip
    results = [
        {**base, "cell": json.loads(cell.to_json()), "device_name": "NVIDIA H200",
         "device_peak_mib": 1234.0},
        {**base, "cell": json.loads(ort.to_json()), "ort_provider": "CPUExecutionProvider"},
    ]  # fmt: skip
    env = {
        "cpu": "x86", "cores": 16, "threads": 16, "matmul_peak_gflops": 50000.0,
        "matmul_peak_before": {"torch_cuda": 49000.0}, "matmul_peak_after": {"torch_cuda": 50000.0},
        "device": "cuda", "device_name": "NVIDIA H200", "onnxruntime": "1.30.0",
        "ort_available_providers": ["CPUExecutionProvider"],
        "frameworks": {"torch": {"version": "2.11"}},
        "load_before": [0, 0, 0], "load_after": [0, 0, 0], "wall_s": 60.0, "budget_s": 600.0,
        "max_seconds": 1.0, "cell_timeout_s": 240.0,
    }  # fmt: skip
    return {"environment": env, "results": results}


def test_the_report_names_the_gpu_its_peak_and_the_provider_that_ran():
    md = scale_report.scale_markdown(_gpu_doc(), "triptych bench --suite scale --device cuda")
    assert "native cells on cuda (NVIDIA H200, strict fp32: TF32 off)" in md
    assert "8192² strict-fp32 (TF32 off) matmul of 10 on NVIDIA H200: 49000 before" in md
    rows = [
        ln
        for ln in md.splitlines()
        if ln.startswith("| resnet18 32x32 | 64 | torch |") and "| ok |" in ln
    ]
    assert len(rows) == 2
    assert "| 1234 |" in rows[0] and "| NVIDIA H200 |" in rows[0]
    assert "| CPUExecutionProvider |" in rows[1]  # ORT's fallback is named, not hidden
    assert "gpu_memory.png" in md


def test_the_gpu_memory_plot_is_drawn_only_for_gpu_cells(tmp_path):
    from triptych.report.scale_plots import scale_plots

    doc = _gpu_doc()
    paths = scale_plots(doc["results"], tmp_path)
    assert paths["gpu_memory"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cpu_only = [r for r in doc["results"] if "device_peak_mib" not in r]
    assert "gpu_memory" not in scale_plots(cpu_only, tmp_path / "cpu")
