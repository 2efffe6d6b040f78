"""The training loop's shared parts: seeded corruption, the train/evaluate CLI, run files."""

import csv
import json

import matplotlib.image as mpimg
import numpy as np
import pytest

from triptych.cli import main
from triptych.common import data as D
from triptych.common import zoo
from triptych.engine.corrupt import corrupt, hole_mask


def test_corruption_is_seeded_fresh_per_step_and_clipped():
    x = D.load_digits().x[:16]
    recipe = zoo.entry("denoising_autoencoder").recipe
    a, _ = corrupt(x, recipe, D.noise_stream(0, "step/1"))
    b, _ = corrupt(x, recipe, D.noise_stream(0, "step/1"))
    c, _ = corrupt(x, recipe, D.noise_stream(0, "step/2"))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1 and a.dtype == np.float32
    masked, _ = corrupt(
        x, recipe.with_(corruption="masking", mask_prob=0.5), D.noise_stream(0, "s")
    )
    zeroed = (masked == 0) & (x != 0)
    assert 0.4 < zeroed.sum() / (x != 0).sum() < 0.6
    held, weight = corrupt(x, zoo.entry("context_encoder").recipe, D.noise_stream(0, "s"))
    assert np.array_equal(weight, hole_mask(x.shape, 0.5)) and weight.sum() == 16 * 16
    assert np.all(held[weight == 1] == 0) and np.array_equal(held[weight == 0], x[weight == 0])


@pytest.mark.parametrize(
    "name, picture",
    [("conv_autoencoder", "reconstructions.png"), ("context_encoder", "inpainting.png")],
)
def test_cli_train_then_evaluate(name, picture, framework, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["train", name, "-f", framework, "--steps", "12", "--out", str(out), "--no-progress"])
        == 0
    )
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert len(json.loads((out / "history.json").read_text())) == 12
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 12 and metrics["framework"] == framework
    assert mpimg.imread(out / picture).shape[2] in (3, 4)
    assert main(["evaluate", str(out)]) == 0
    assert "hole_psnr" in capsys.readouterr().out or "test_mse" in metrics


def test_cli_train_bad_input_exits_2(tmp_path, capsys):
    assert main(["train", "autoencoder", "--data", str(tmp_path / "none.npz")]) == 2
    assert "no data at" in capsys.readouterr().err
    assert main(["train", "autoencoder", "--resume", "--out", str(tmp_path / "x")]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
