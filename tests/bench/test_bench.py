"""Benchmark cells run in subprocesses; a crashing cell is recorded and the others complete;
the report files load back."""

import csv
import json

import matplotlib.image as mpimg

import triptych
from triptych.bench.cell import Cell
from triptych.bench.report import write_all
from triptych.bench.runner import environment, run_cells


def test_cells_run_and_a_crashing_cell_is_reported(tmp_path):
    fw = triptych.frameworks()[0]
    cells = [
        Cell("linear_autoencoder", fw, "infer", 4, repeats=3, warmup=1),
        Cell("linear_autoencoder", fw, "infer", 0, repeats=3, warmup=1),  # impossible
        Cell("linear_autoencoder", fw, "ort", 4, "tuned", repeats=3, warmup=1),
        Cell("linear_autoencoder", fw, "train", 4, repeats=3, warmup=1),
    ]
    results = run_cells(cells, peak=100.0)
    assert [r["status"] for r in results] == ["ok", "failed", "ok", "ok"]
    assert "empty batch" in results[1]["error"]
    ok = results[0]
    assert len(ok["samples_s"]) == 3 and ok["median_s"] > 0 and ok["peak_rss_mib"] > 50
    assert abs(ok["gflops"] - ok["flops"] / ok["median_s"] / 1e9) < 1e-9
    assert ok["fraction_of_peak"] == ok["gflops"] / 100.0
    assert results[3]["flops"] == 3 * ok["flops"]  # training counts forward + backward
    paths = write_all(results, environment(2, 100.0), tmp_path, "triptych bench (test)")
    doc = json.loads(paths["json"].read_text())
    assert doc["environment"]["threads"] == 2 and len(doc["results"]) == 4
    table = list(csv.DictReader(paths["csv"].open()))
    assert [r["status"] for r in table] == ["ok", "failed", "ok", "ok"]
    assert "**failed**" in paths["md"].read_text()
    assert mpimg.imread(paths["throughput"]).ndim == 3
