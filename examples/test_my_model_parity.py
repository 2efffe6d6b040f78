"""A user's own test suite checking that their model computes the same function in every
framework triptych knows. Run it with `pytest examples/` (the README shows it)."""

import triptych
from triptych.common import spec as S
from triptych.testing import assert_parity

MY_SPEC = S.single(
    S.Network(
        "net",
        (1, 8, 8),
        [
            S.Conv2d(8, kernel=3, stride=2, padding=1),
            S.BatchNorm(),
            S.ReLU(),
            S.Flatten(),
            S.Dense(10),
        ],
    ),
    "my_cnn",
)


def test_my_model_matches_pytorch(triptych_framework):
    reference = triptych.create(MY_SPEC, framework="torch", seed=0)
    other = triptych.create(MY_SPEC, framework=triptych_framework, weights=reference.get_weights())
    # no tolerance to choose: each output within the bound derived from both models' float64
    # builds (what `triptych parity` uses); pass atol=/rtol= for a fixed tolerance instead
    assert_parity(other, reference)


def test_my_model_matches_its_onnx_export(triptych_framework, tmp_path):
    report = triptych.parity(
        MY_SPEC,
        frameworks=[triptych_framework],
        train_steps=0,
        out_dir=tmp_path,
        exporters={"torch": "torchscript"},
    )
    assert report, str(report)
