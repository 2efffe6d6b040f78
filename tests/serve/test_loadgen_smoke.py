"""A tiny run of the MLPerf LoadGen harness (seconds): every path answers without a failed
request, LoadGen's summary files and the README table are written; the raw HTTP client reads
a response's length from Content-Length, not from Inference-Header-Content-Length."""

import json

import pytest

pytest.importorskip("mlperf_loadgen", reason="pip install 'triptych[dev]' (mlcommons-loadgen)")
pytest.importorskip("torch")

from triptych.serve.loadgen.__main__ import main
from triptych.serve.loadgen.paths import content_length


def test_client_takes_content_length_not_the_inference_header_length():
    head = (
        b"http/1.1 200 ok\r\ninference-header-content-length: 120\r\n"
        b"content-length: 248\r\ncontent-type: application/octet-stream"
    )
    assert content_length(head) == 248
    assert content_length(b"http/1.1 200 ok\r\ncontent-length: 7") == 7
    with pytest.raises(RuntimeError, match="without Content-Length"):
        content_length(b"http/1.1 200 ok\r\ninference-header-content-length: 5")


def test_smoke_run_writes_summaries_and_table(tmp_path):
    stale = tmp_path / "summaries" / "gan__http_json__offline_1.txt"  # an earlier run's
    stale.parent.mkdir()
    stale.write_text("old")
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    summaries = sorted((tmp_path / "summaries").iterdir())
    assert stale not in summaries  # the folder holds this run's summaries only
    assert any("__ort__offline" in p.name for p in summaries)
    for path in ("http_json", "http_binary", "grpc", "grpc_stream", "grpc_floor"):
        offline = [p for p in summaries if f"__{path}__offline" in p.name]
        assert offline and "MLPerf Results Summary" in offline[0].read_text()
    text = (tmp_path / "README.md").read_text()
    labels = (
        "in-process ORT", "HTTP JSON", "HTTP binary", "gRPC", "gRPC stream (ModelStreamInfer)",
        "gRPC floor", "gRPC stream floor", "## Targets",
    )  # fmt: skip
    for label in labels:
        assert label in text
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["models"][0]["paths"]
    assert {r["path"] for r in rows} >= {"grpc_stream", "grpc_stream_floor"}
    for row in rows:
        assert row["offline"]["errors"] == 0, row["path"]  # every request answered 200
        assert row["offline"]["achieved"] > 0, row["path"]


def test_batching_ab_interleaves_rounds_and_reports_medians(tmp_path):
    from triptych.export.ort import make_session
    from triptych.model import create
    from triptych.serve.loadgen import batching, bench, report

    path = create("gan", framework="torch").export_onnx(
        tmp_path, networks=["generator"], exporter="torchscript"
    )["generator"]
    inp = make_session(path, threads=1).get_inputs()[0]
    target = bench.Target("gan", path, 20.0, inp.name, (1, *[int(d) for d in inp.shape[1:]]))
    budget = bench.Budget(min_duration_ms=200, samples=8, concurrency=2, server_threads=2)
    result = batching.compare(target, budget, rounds=2)
    # round 0 measures no batching first, round 1 dynamic batching first, at each concurrency
    assert result["order"] == [
        "0:1:off", "0:1:on", "0:32:off", "0:32:on", "1:1:on", "1:1:off", "1:32:on", "1:32:off"
    ]  # fmt: skip
    for arm in batching.ARMS:
        for c in ("1", "32"):
            runs = result["runs"][arm][c]
            assert len(runs) == 2 and all(r.errors == 0 and r.achieved > 0 for r in runs)
    assert all(r.scenario == "SingleStream" for r in result["runs"]["on"]["1"])
    s1 = batching.summary(result, "1")
    assert s1["ratio_min"] <= s1["ratio"] <= s1["ratio_max"] and s1["p50_on_ms"] > 0
    text = "\n".join(report.batching_table(result))
    assert "2 interleaved rounds" in text and "| 1 |" in text and "| 32 |" in text


def test_a_test_with_stolen_cpu_is_rerun_and_counted(monkeypatch):
    from triptych.serve.loadgen import harness

    def fake(stolen):
        values, calls = iter(stolen), []

        def once(*args):
            calls.append(args)
            return harness.TestResult(
                "Offline", 1.0, True, 1.0, 1.0, 1, 0, 1.0, None, "", stolen_pct=next(values)
            )

        return once, calls

    once, calls = fake([40.0, 12.0, 0.5])
    monkeypatch.setattr(harness, "run_once", once)
    r = harness.run_test(None, 8, "Offline", 1.0, 0, 100, [])
    assert len(calls) == 3 and (r.stolen_pct, r.reruns) == (0.5, 2)  # the clean run is kept
    once, calls = fake([30.0] * (harness.RERUNS + 1))
    monkeypatch.setattr(harness, "run_once", once)
    r = harness.run_test(None, 8, "Offline", 1.0, 0, 100, [])
    assert len(calls) == harness.RERUNS + 1 and r.reruns == harness.RERUNS  # gives up, says so
    assert harness.steal_ticks() >= 0
