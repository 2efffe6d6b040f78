"""The parity engine: levels 1-4, comparison results, the CLI and its bad-input contract."""

import json

import pytest

import triptych
from triptych.cli import main
from triptych.common import spec as S
from triptych.export.ort import ProviderError, cuda_loads, make_session
from triptych.testing import assert_parity
from triptych.verify.training import training_parity

CONV_BN = S.single(
    S.Network(
        "net", (1, 8, 8), [S.Conv2d(8, 3, 2, 1), S.BatchNorm(), S.ReLU(), S.Flatten(), S.Dense(10)]
    ),
    "conv_bn",
)


def _need_two():
    have = triptych.frameworks()
    if len(have) < 2:
        pytest.skip(reason=f"cross-framework checks need two frameworks; have {have}")


def test_parity_matrix_all_levels_pass_on_gan(tmp_path):
    _need_two()
    report = triptych.parity(
        "gan", batches=(1, 37), out_dir=tmp_path, train_steps=3, exporters={"torch": "torchscript"}
    )
    assert report, str(report)
    fws = report.frameworks
    assert {c.level for c in report.checks} == {1, 2, 3, 4}
    # 2 networks x 2 batches: L1 + L2 per framework, native + ONNX per pair
    n_pairs = len(fws) * (len(fws) - 1) // 2
    assert len([c for c in report.checks if c.level < 4]) == 2 * 2 * (2 * len(fws) + 2 * n_pairs)
    # level 4 per pair: the loss per step, the final weights, BN statistics (both nets have
    # BN); and the GAN's alternating rounds: D loss, G loss, weights of both networks
    assert len(report.level(4)) == (3 + 3) * n_pairs
    assert report.gan_training is not None and report.gan_training.rounds == 3
    assert all(c.max_abs <= 1e-5 for c in report.checks if c.level < 4)
    kinds = {(c.a.kind, c.b.kind) for c in report.level(1)}
    assert kinds == {("native", "ort")}
    assert all(c.b.file and c.b.provider == "CPUExecutionProvider" for c in report.level(1))
    assert report.training and report.providers
    assert json.loads(json.dumps(report.to_dict()))["passed"] is True


def test_training_parity_20_sgd_steps_conv_bn():
    _need_two()
    result, checks = training_parity(CONV_BN, triptych.frameworks(), steps=20, lr=0.1, batch=16)
    assert result.loss == "cross_entropy" and len(result.losses[result.frameworks[0]]) == 20
    for c in checks:
        assert c.level == 4 and c.a.kind == "train"
        if c.network == "loss":
            assert c.passed and c.max_rel <= 1e-4, c.pair
        if c.network == "weights":
            assert c.passed and c.max_abs <= 1e-5, c.pair
        if c.network == "bn_stats":  # gates only between frameworks with one estimator
            assert c.gating == ("mxnet" not in (c.a.framework, c.b.framework))
    losses = result.losses[result.frameworks[0]]
    assert losses[-1] < losses[0]  # it did learn


def test_training_parity_detects_a_different_start():
    _need_two()
    a, b = triptych.frameworks()[:2]
    wa = triptych.create(CONV_BN, framework=a, seed=0)
    wb = triptych.create(CONV_BN, framework=b, seed=1)
    result = triptych.compare(wb, wa)
    assert not result and result.outputs[0].mismatches > 0
    with pytest.raises(AssertionError, match="elements differ by more than"):
        assert_parity(wb, wa)
    assert_parity(triptych.create(CONV_BN, framework=b, weights=wa.get_weights()), wa)


def test_strict_provider_fails_when_cuda_does_not_load(tmp_path):
    model = triptych.create("linear_autoencoder", framework=triptych.frameworks()[0])
    path = model.export_onnx(
        tmp_path,
        networks=["encoder"],
        exporter=("torchscript" if model.framework == "torch" else None),
    )["encoder"]
    if cuda_loads():
        assert make_session(path, "cuda", strict=True).get_providers()[0] == "CUDAExecutionProvider"
    else:
        with pytest.raises(ProviderError, match="does not load on this machine"):
            make_session(path, "cuda", strict=True)
        assert make_session(path, "cuda").get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(ProviderError, match="unknown provider 'tpu'; allowed: auto, cpu, cuda"):
        make_session(path, "tpu")


def test_cli_parity_on_a_user_spec_file(tmp_path, capsys):
    _need_two()
    spec_file = tmp_path / "mine.json"
    spec_file.write_text(CONV_BN.to_json())
    fws = triptych.frameworks()[:2]
    args = [
        "parity",
        str(spec_file),
        "--train-steps",
        "4",
        "--out",
        str(tmp_path / "out"),
        "--json",
        str(tmp_path / "p.json"),
        "--exporter",
        "torch=torchscript",
    ]
    for fw in fws:
        args += ["-f", fw]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "cross-framework worst max |diff|" in out and "PASS" in out
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["passed"] and data["model"] == "conv_bn" and data["frameworks"] == fws
    assert (tmp_path / "out" / "training_parity.png").stat().st_size > 10_000


def test_cli_parity_fails_with_exit_1_on_impossible_tolerance(tmp_path, capsys):
    _need_two()
    args = [
        "parity",
        "linear_autoencoder",
        "--atol",
        "0",
        "--rtol",
        "0",
        "--train-steps",
        "0",
        "--no-reference",
        "--out",
        str(tmp_path),
        "--exporter",
        "torch=torchscript",
    ]
    assert main(args) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.fixture
def good_onnx(tmp_path):
    model = triptych.create("gan", framework=triptych.frameworks()[0])
    return model.export_onnx(
        tmp_path,
        networks=["generator"],
        exporter=("torchscript" if model.framework == "torch" else None),
    )["generator"]


def _usage_error(args, capsys, *words):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for w in words:
        assert w in err


def test_bad_inputs_exit_2_with_one_clear_message(tmp_path, good_onnx, capsys):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07garbage that is not protobuf \xff\xff\xff")
    _usage_error(["parity", "gan", "--onnx", str(corrupt)], capsys, "not a valid ONNX file")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good_onnx.read_bytes()[:200])
    _usage_error(["parity", "gan", "--onnx", str(truncated)], capsys, "truncated.onnx")
    _usage_error(
        [
            "parity",
            "conv_autoencoder",
            "--onnx",
            str(good_onnx),
            "--network",
            "encoder",
            "--no-reference",
        ],
        capsys,
        "input 'z' expects shape (batch, 32)",
    )
    _usage_error(
        ["export", "gan", "--network", "critic", "--out", str(tmp_path / "x")],
        capsys,
        "no network 'critic'",
    )
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").iterdir())
    _usage_error(["parity", "gan", "--provider", "tpu"], capsys, "unknown provider 'tpu'")
    _usage_error(["parity", "no_such_model"], capsys, "unknown model 'no_such_model'")


def test_cli_parity_checks_a_good_file(good_onnx, capsys):
    assert main(["parity", "gan", "--onnx", str(good_onnx)]) == 0
    assert "PASS" in capsys.readouterr().out


def test_gan_training_parity_alternating_rounds():
    """20 alternating rounds (k D steps, one G step) with the lecture's Adam: the per-round D
    and G losses and the final weights agree within the bounds derived from float64 for every
    pair; the weights whose exact gradient is zero (biases before BatchNorm, which Adam moves
    on rounding noise alone) are named, with float64's evidence."""
    _need_two()
    from triptych.common import zoo
    from triptych.verify.gan import gan_training_parity

    run, checks = gan_training_parity(zoo.create_spec("gan"), triptych.frameworks(), rounds=20)
    assert run.optimizer == "adam" and run.lr == 2e-4
    losses = [c for c in checks if c.network in ("d_loss", "g_loss")]
    assert len(losses) == 2 * len(checks) // 3
    for c in losses:
        assert c.passed and c.oracle is not None, (c.pair, c.network, c.comparison.failures())
        assert len(c.comparison.outputs[0].shape_a) == 1 and c.comparison.outputs[0].size == 20
    weights = [c for c in checks if c.network == "gan_weights"]
    assert weights and all(c.gating and c.passed for c in weights), [
        c.comparison.failures() for c in weights
    ]
    assert all("zero exact gradient" in c.note and "float64 moved it" in c.note for c in weights)
    d_losses = run.losses[run.frameworks[0]]["d_loss"]
    assert len(d_losses) == 20 and len(set(d_losses)) > 1
