"""A tiny run of the MLPerf LoadGen harness (seconds): every path answers, LoadGen's summary
files and the README table are written."""

import pytest

pytest.importorskip("mlperf_loadgen", reason="pip install 'triptych[dev]' (mlcommons-loadgen)")
pytest.importorskip("torch")

from triptych.serve.loadgen.__main__ import main


def test_smoke_run_writes_summaries_and_table(tmp_path):
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    summaries = sorted((tmp_path / "summaries").iterdir())
    assert any("__ort__offline" in p.name for p in summaries)
    for path in ("http_json", "http_binary", "grpc"):
        offline = [p for p in summaries if f"__{path}__offline" in p.name]
        assert offline and "MLPerf Results Summary" in offline[0].read_text()
    text = (tmp_path / "README.md").read_text()
    for label in ("in-process ORT", "HTTP JSON", "HTTP binary", "gRPC", "## Targets"):
        assert label in text
    assert (tmp_path / "results.json").is_file()
