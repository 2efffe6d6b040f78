"""The scale suite's cells build with their options; options survive the trip to the worker;
the smallest cell runs through the worker in every installed framework; a spent budget skips
cells with the reason; time to quality stops at the first evaluation that meets the target."""

import json
import math

import numpy as np
import pytest

import triptych
from triptych.bench import time_to_quality as ttq
from triptych.bench.cell import Cell, ModelOptions
from triptych.bench.runner import run_cells
from triptych.bench.scale import SCALE_MODELS, known_skip, quick_cells, scale_cells
from triptych.bench.worker import cell_flops
from triptych.common import data as D
from triptych.common import zoo_scale
from triptych.model import create
from triptych.training.fd import frechet_distance


def test_every_scale_cell_builds_at_its_size():
    cells = scale_cells(["torch", "tensorflow"])
    assert len(cells) == 2 * 5 * sum(len(m.batches) for m in SCALE_MODELS)
    shapes = {}
    for cell in cells:
        spec = zoo_scale.create_spec(cell.model, **cell.options.kwargs())
        assert cell_flops(spec, cell) > 0
        shapes[cell.key.split("|")[0]] = spec.input_shape
    assert shapes["resnet18[3x224x224 imagenet]"] == (3, 224, 224)
    assert len(shapes["gan[1x28x28]"]) == 1  # the generator's latent vector, not an image
    big = zoo_scale.create_spec("resnet18", image_shape=(3, 224, 224), stem="imagenet")
    small = zoo_scale.create_spec("resnet18", image_shape=(3, 32, 32), stem="cifar")
    # published: 1.82 G multiply-adds at 224x224 (torchvision), 0.56 G at 32x32 (CIFAR stem)
    assert big.networks["net"].flops == pytest.approx(2 * 1.82e9, rel=0.01)
    assert small.networks["net"].flops == pytest.approx(2 * 0.557e9, rel=0.01)
    dcgan = zoo_scale.create_spec("dcgan64")
    # PyTorch's DCGAN example at ngf = ndf = 64, nz = 100: the same parameter counts
    assert dcgan.networks["generator"].params == 3_576_704
    assert dcgan.networks["discriminator"].params == 2_765_568
    assert dcgan.networks["generator"].output_shape == (3, 64, 64)


def test_gan_train_cells_count_the_adversarial_step_and_skip_tuned():
    spec = zoo_scale.create_spec("gan", image_shape=(1, 28, 28))
    g, d = spec.networks["generator"].flops, spec.networks["discriminator"].flops
    cell = Cell("gan", "torch", "train", 4, options=ModelOptions((1, 28, 28)))
    assert cell_flops(spec, cell) == 4 * (4 * g + 9 * d)
    assert "no tuned adversarial step" in known_skip(Cell("gan", "torch", "train", 4, "tuned"))
    assert known_skip(Cell("gan", "torch", "infer", 4, "tuned")) is None


def test_options_survive_json_and_bad_ones_say_what_is_allowed():
    cell = Cell("resnet18", "mxnet", "ort", 16, options=ModelOptions((3, 224, 224), "imagenet"))
    back = Cell.from_json(cell.to_json())
    assert back == cell and back.options.image_shape == (3, 224, 224)
    assert back.options.kwargs() == {"image_shape": (3, 224, 224), "stem": "imagenet"}
    assert back.key == "resnet18[3x224x224 imagenet]|mxnet|ort|16|default"
    with pytest.raises(ValueError, match=r"image_shape must be 3 positive ints"):
        ModelOptions((3, 32))
    with pytest.raises(ValueError, match=r"stem 'vit'; allowed: cifar, imagenet"):
        zoo_scale.create_spec("resnet18", stem="vit")
    with pytest.raises(ValueError, match=r"unknown model 'resnet99'.*dcgan64"):
        zoo_scale.create_spec("resnet99")


def test_a_spent_budget_skips_the_rest_with_the_reason():
    cells = quick_cells(["torch", "tensorflow"])
    results = run_cells(cells, peak=100.0, budget_s=0.0)
    assert [r["status"] for r in results] == ["skipped", "skipped"]
    assert all("time budget (0 s) was spent" in r["error"] for r in results)


@pytest.mark.parametrize("fw", triptych.frameworks())
def test_smallest_scale_cell_runs_through_the_worker(fw):
    (cell,) = quick_cells([fw])
    (result,) = run_cells([cell], peak=100.0)
    assert result["status"] == "ok", result.get("error")
    assert result["cell"]["options"]["image_shape"] == [1, 28, 28]  # the options arrived
    assert result["repeats_run"] == 1 and result["first_call_s"] > 0
    spec = zoo_scale.create_spec("gan", image_shape=(1, 28, 28))
    assert result["flops"] == cell_flops(spec, cell)
    assert result["fraction_of_peak"] == pytest.approx(result["gflops"] / 100.0)


def _watch(values, eval_every=2, max_steps=7, higher=True, threshold=0.9):
    target = ttq.Target("t", "m", "acc", threshold, higher, eval_every, max_steps)
    result = ttq.Result("t", "fw", "acc", threshold, max_steps)
    ticks = iter(range(100))
    vals = iter(values)
    watch = ttq.TargetWatch(target, result, lambda: next(vals), clock=lambda: 10.0 * next(ticks))
    return watch, result


def test_time_to_quality_stops_at_the_first_evaluation_that_meets_the_target():
    watch, result = _watch([0.5, 0.95])
    watch(1, {"seconds": 0.25})
    watch(2, {"seconds": 0.25})
    assert result.evaluations[0].value == 0.5 and not result.reached
    watch(3, {"seconds": 0.25})
    with pytest.raises(ttq.TargetReached):
        watch(4, {"seconds": 0.25})
    assert result.reached and result.steps == 4 and result.seconds == pytest.approx(1.0)
    assert result.eval_seconds == pytest.approx(20.0)  # two evaluations, off the clock
    assert [e.step for e in result.evaluations] == [2, 4]


def test_time_to_quality_evaluates_at_the_last_step_and_reports_a_miss():
    watch, result = _watch([3.0, 2.0, 1.5, 1.2], higher=False, threshold=1.0)
    for step in range(1, 8):
        watch(step, {"seconds": 0.1})
    assert [e.step for e in result.evaluations] == [2, 4, 6, 7]  # 7: max_steps
    assert not result.reached and result.steps is None and result.steps_run == 7
    assert result.train_seconds == pytest.approx(0.7)
    target = ttq.Target("t", "m", "fd", 1.0, False, 1, 1)
    assert target.met(1.0) and not target.met(1.01) and not target.met(math.nan)


def test_train_to_target_stops_a_real_run():
    data = D.load_digits("unit")
    model = create("linear_autoencoder", framework=triptych.frameworks()[0], seed=0)
    recipe = None  # the model's own
    target = ttq.Target("ae", "linear_autoencoder", "mse", 1.0, False, 3, 50)
    mse = []

    def evaluate():
        mse.append(float(((model.predict(data.x) - data.x) ** 2).mean()))
        return mse[-1]

    result = ttq.train_to_target(model, data, recipe, target, evaluate)
    assert result.reached and result.steps == 3 and result.steps_run == 3  # stopped there
    assert result.seconds > 0 and np.isfinite(mse[0])
    never = ttq.Target("ae", "linear_autoencoder", "mse", -1.0, False, 4, 6)
    missed = ttq.train_to_target(model, data, recipe, never, evaluate)
    assert not missed.reached and missed.steps_run == 6
    assert [e.step for e in missed.evaluations] == [4, 6]


def test_fd_with_the_real_side_computed_once_is_the_same_number():
    rng = np.random.default_rng(0)
    real, fake = rng.random((200, 12)), rng.random((150, 12)) * 1.3
    stats = ttq.RealStats(real)
    assert stats.distance(fake) == frechet_distance(real, fake)
    assert stats.distance(real) == pytest.approx(0.0, abs=1e-9)


def test_run_scale_gives_cells_one_float_peak_and_records_skips(monkeypatch):
    from triptych.bench import scale

    seen = []

    def fake_run_cells(cells, peak, on_done, budget_s, timeout):
        seen.append(peak)
        return [{"cell": json.loads(c.to_json()), "status": "ok", "gflops": 2.0} for c in cells]

    monkeypatch.setattr(scale, "run_cells", fake_run_cells)
    monkeypatch.setattr(
        scale, "measured_peak", lambda threads, device: {"numpy": 4.0, "onnxruntime": 8.0}
    )
    monkeypatch.setattr(scale, "environment", lambda threads, peak: {"matmul_peak_gflops": peak})
    gan = next(m for m in SCALE_MODELS if m.model == "gan")
    doc = scale.run_scale(["torch"], models=(gan,))
    assert seen == [8.0]  # a number, the best measured
    by_kind = {(r["cell"]["mode"], r["cell"]["variant"]): r for r in doc["results"]}
    assert by_kind[("train", "tuned")]["status"] == "skipped"  # no tuned GAN step
    assert by_kind[("infer", "default")]["fraction_of_peak"] == 0.25
    assert doc["environment"]["matmul_peak_gflops"] == 8.0
    given = scale.run_scale(["torch"], models=(gan,), peak_gflops=100.0)
    assert given["results"][0]["fraction_of_peak"] == 0.02


def _row(fw: str, sps: float) -> dict:
    return {"cell": {"framework": fw, "model": "resnet18"}, "samples_per_s": sps}


def test_append_replaces_the_later_runs_frameworks_and_keeps_the_others():
    from triptych.bench import scale_report

    old = {
        "environment": {"frameworks": {"torch": {"version": "2"}}, "load_before": [1, 1, 1]},
        "results": [_row("torch", 10.0), _row("chainer", 1.0)],
        "command": "triptych bench --suite scale",
    }
    new = {
        "environment": {
            "frameworks": {"chainer": {"version": "7.8.1"}},
            "load_before": [2.0, 2.0, 2.0],
            "load_after": [3.0, 3.0, 3.0],
            "wall_s": 120.0,
            "matmul_peak_gflops": 99.0,
        },
        "results": [_row("chainer", 2.0), _row("sonnet", 5.0)],
        "command": "triptych bench --suite scale -f chainer sonnet --append",
    }
    merged = scale_report.append_run(old, new, "results")
    got = sorted((r["cell"]["framework"], r["samples_per_s"]) for r in merged["results"])
    assert got == [("chainer", 2.0), ("sonnet", 5.0), ("torch", 10.0)]
    assert set(merged["environment"]["frameworks"]) == {"torch", "chainer"}
    assert merged["command"] == old["command"] and old["results"][1]["samples_per_s"] == 1.0
    (line,) = scale_report.appended_lines(merged)
    assert "chainer, sonnet" in line and "--append" in line and "2.0 min" in line
    # ttq documents keep their rows under "runs", with the framework at the top level
    t_old = {"runs": [{"framework": "torch", "task": "gan"}], "load_before": [1, 1, 1]}
    t_new = {"runs": [{"framework": "sonnet", "task": "gan"}], "wall_s": 60.0}
    t = scale_report.append_run(t_old, t_new, "runs")
    assert [r["framework"] for r in t["runs"]] == ["torch", "sonnet"]
    assert len(t["appended"]) == 1


def test_chainer_tuned_cells_are_skipped_with_the_reason_and_its_ort_cell_kept():
    cells = scale_cells(["chainer"], models=SCALE_MODELS[:1])
    reasons = {(c.mode, c.variant): known_skip(c) for c in cells}
    assert "no faster path" in reasons[("train", "tuned")]
    assert "no faster path" in reasons[("infer", "tuned")]
    assert reasons[("ort", "tuned")] is None and reasons[("train", "default")] is None


def test_resume_keeps_the_earlier_ok_cells_and_runs_only_the_rest(monkeypatch):
    from triptych.bench import scale, scale_report

    ran = []

    def fake_run_cells(cells, peak, on_done, budget_s, timeout):
        ran.extend(c.key for c in cells)
        return [{"cell": json.loads(c.to_json()), "status": "ok", "gflops": 3.0} for c in cells]

    monkeypatch.setattr(scale, "run_cells", fake_run_cells)
    monkeypatch.setattr(scale, "measured_peak", lambda threads, device: {"numpy": 6.0})
    monkeypatch.setattr(scale, "environment", lambda threads, peak: {"matmul_peak_gflops": peak})
    gan = next(m for m in SCALE_MODELS if m.model == "gan")
    first = scale.run_scale(["torch"], models=(gan,))
    first["results"][1] = {**first["results"][1], "status": "skipped", "error": "budget"}
    first["results"][0]["marker"] = "from the first run"
    ran.clear()
    second = scale.run_scale(["torch"], models=(gan,), earlier=first)
    assert ran == [Cell(**first["results"][1]["cell"]).key]
    assert second["results"][0]["marker"] == "from the first run"
    assert second["results"][1]["status"] == "ok"
    assert second["environment"]["resumed"]["cells_kept"] == 3  # 4 ok, 1 re-run, GAN tuned skip
    (line,) = scale_report.resumed_lines(second["environment"])
    assert line.startswith("3 ok cells come from an earlier run of the same suite (")
    # a resume on another machine (another peak) leaves the kept cells' fractions alone
    monkeypatch.setattr(scale, "measured_peak", lambda threads, device: {"numpy": 12.0})
    third = scale.run_scale(["torch"], models=(gan,), earlier=second)
    assert third["results"][0]["fraction_of_peak"] == 0.5  # 3.0 / 6.0, its own run's peak
    assert third["results"][0]["cell"]["peak_gflops"] == 6.0


def test_models_option_picks_scale_models_by_label():
    from triptych.commands.bench import _scale_models

    assert [m.label for m in _scale_models("MobileNetV2")] == [
        "MobileNetV2 32x32", "MobileNetV2 32x32 no depthwise"]  # fmt: skip
    assert _scale_models(None) == SCALE_MODELS
    with pytest.raises(SystemExit, match="matches no scale model; labels: resnet18 32x32"):
        _scale_models("vgg")
    # the option reaches the suite: the positional zoo ``models`` must not overwrite it
    import argparse

    from triptych.commands import bench

    parser = argparse.ArgumentParser()
    bench.add_parser(parser.add_subparsers())
    args = parser.parse_args(["bench", "--suite", "scale", "--models", "MobileNetV2"])
    assert args.scale_models == "MobileNetV2" and args.models == []
