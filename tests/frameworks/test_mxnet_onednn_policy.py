"""MXNet's oneDNN decided per CPU from a known-answer check against float64
(`triptych.frameworks.mxnet.onednn_policy` / `onednn_check`)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from triptych.frameworks.mxnet import onednn_policy as P

needs_mxnet = pytest.mark.skipif(
    importlib.util.find_spec("mxnet") is None, reason="mxnet not installed (pip install '.[mxnet]')"
)

PASSING = {
    "ops": [
        {"op": "conv", "rel_error": 5e-7, "bound": 3e-5, "ok": True},
        {"op": "batchnorm", "rel_error": 6e-7, "bound": 3e-5, "ok": True},
    ]
}


def test_a_failing_op_switches_onednn_off_and_names_it() -> None:
    result = json.loads(json.dumps(PASSING))
    result["ops"][0].update(rel_error=4e-3, ok=False)  # a kernel rounding like bfloat16
    verdict = P.decide(result)
    assert not verdict.on
    assert "conv: 4.0e-03 from float64, bound 3.0e-05" in verdict.reason


def test_passing_ops_keep_onednn_on_with_the_worst_margin() -> None:
    verdict = P.decide(PASSING)
    assert verdict.on and "worst batchnorm: 6.0e-07" in verdict.reason


def test_the_user_setting_wins_and_no_check_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(P.ENV, "0")
    monkeypatch.setattr(P, "run_check", lambda: pytest.fail("the check ran"))
    verdict = P.verdict()
    assert not verdict.on and "set by the user" in verdict.reason


def test_verdicts_are_cached_per_cpu(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv(P.ENV, raising=False)
    monkeypatch.setenv("TRIPTYCH_CACHE_DIR", str(tmp_path))
    runs = []
    failing = {"ops": [{"op": "conv", "rel_error": 1e-2, "bound": 3e-5, "ok": False}]}
    monkeypatch.setattr(P, "run_check", lambda: runs.append(1) or failing)
    monkeypatch.setattr(P, "cpu_identity", lambda: "CPU A | avx512f amx_tile")
    assert not P.verdict().on and not P.verdict().on
    assert len(runs) == 1  # the second answer came from the cache
    monkeypatch.setattr(P, "cpu_identity", lambda: "CPU B | avx2")
    monkeypatch.setattr(P, "run_check", lambda: runs.append(1) or PASSING)
    assert P.verdict().on  # another CPU: checked again, its own verdict
    assert len(runs) == 2 and len(list((tmp_path / "mxnet-onednn").iterdir())) == 2
    monkeypatch.setattr(P, "cpu_identity", lambda: "CPU A | avx512f amx_tile")
    env: dict[str, str] = {}
    monkeypatch.setattr(P.os, "environ", env)
    env["TRIPTYCH_CACHE_DIR"] = str(tmp_path)
    assert not P.apply().on and env[P.ENV] == "0"  # applied before mxnet is imported


def test_a_check_that_cannot_run_leaves_onednn_on_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv(P.ENV, raising=False)
    monkeypatch.setenv("TRIPTYCH_CACHE_DIR", str(tmp_path))

    def broken() -> dict:
        raise RuntimeError("exit 1: ImportError")

    monkeypatch.setattr(P, "run_check", broken)
    verdict = P.verdict()
    assert verdict.on and "could not run (exit 1: ImportError)" in verdict.reason


@needs_mxnet
def test_the_known_answer_check_runs_on_this_cpu() -> None:
    """The real check, on whatever CPU runs the suite: every op within its float32 bound
    here, or the verdict that switches oneDNN off names the op."""
    result = P.run_check()
    assert result["onednn_built_and_on"] is True
    names = {o["op"] for o in result["ops"]}
    assert {"conv 1->16 k3", "conv_transpose 16->1 k4 s2", "batchnorm (training)"} <= names
    for op in result["ops"]:
        assert 0 < op["rel_error"] < 1e-2 and op["bound"] > 0, op
        assert op["ok"] == (op["rel_error"] <= op["bound"])
    verdict = P.decide(result)
    assert verdict.on == all(o["ok"] for o in result["ops"])


@needs_mxnet
def test_triptych_info_says_whether_onednn_runs_here_and_why(capsys) -> None:
    from triptych.cli import main
    from triptych.frameworks.mxnet.compat import ONEDNN
    from triptych.info import collect

    notes = collect(measure_peak=False)["frameworks"]["mxnet"]["notes"]
    assert notes == [ONEDNN.reason] and ONEDNN.reason.startswith("oneDNN ")
    assert main(["info", "--no-peak"]) == 0
    assert "known-answer check" in capsys.readouterr().out or "MXNET_MKLDNN" in ONEDNN.reason
