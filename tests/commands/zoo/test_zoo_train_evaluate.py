"""Every zoo model trains and evaluates through the CLI with its defaults (framework torch,
the bundled digits; the image shape comes from the data), two steps, the quick FD recipe."""

import numpy as np
import pytest
from zoo_commands import MODELS, read_json, run_ok


@pytest.mark.parametrize("name", MODELS)
def test_train_then_evaluate(name, tmp_path, capsys):
    out = tmp_path / name
    run_ok(["train", name, "--steps", "2", "--quick", "--out", str(out), "--no-progress"], capsys)
    metrics = read_json(out / "metrics.json")
    assert metrics["steps"] == 2 and np.isfinite(metrics["final_loss"])
    assert (out / "checkpoint.safetensors").exists()
    text = run_ok(["evaluate", str(out)], capsys)
    assert name in text or "classifier" in text
