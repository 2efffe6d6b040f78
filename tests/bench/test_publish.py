"""The ``publish`` suite (`make bench`) and what it publishes: every results file carries its
provenance and the run's peak, no cell exceeds that peak, the README and docs headline is
exactly what the results file renders (and every number in it is one of the file's), a run
continues after an interruption keeping what it measured, a busy machine is seen, and a
plain `triptych bench` writes the same provenance."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from triptych.bench import gemm_peak, provenance, publish
from triptych.bench.cell import Cell
from triptych.bench.scale import label_of
from triptych.cli import main
from triptych.report import publish_report

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PUBLISHED = RESULTS / publish.RESULTS_FILE
PROVENANCE_KEYS = {"commit", "dirty", "date", "cpu", "cpu_id", "cpu_flags", "cores",
                   "threads_per_cell", "versions", "load_avg"}  # fmt: skip


def _published() -> dict:
    if not PUBLISHED.exists():
        pytest.fail(f"{PUBLISHED} is missing: run `make bench` and commit its results")
    return json.loads(PUBLISHED.read_text())


def test_the_published_run_is_complete_with_provenance_and_its_peak():
    doc = _published()
    assert doc["complete"], "an interrupted run was published: `make bench` continues it"
    assert set(doc["provenance"]) >= PROVENANCE_KEYS
    assert re.fullmatch(r"[0-9a-f]{40}", doc["provenance"]["commit"])
    assert doc["provenance"]["versions"]["torch"] != "absent"
    whens = [m["when"] for m in doc["peak"]["measurements"]]
    assert whens[0] == "start" and whens[-1] == "end"
    assert doc["peak"]["gflops"] == max(m["best_gflops"] for m in doc["peak"]["measurements"])


def test_no_published_cell_exceeds_the_runs_peak():
    doc = _published()
    fractions = {
        Cell(**r["cell"]).key: r["fraction_of_peak"]
        for r in doc["results"]
        if r["status"] == "ok" and r.get("fraction_of_peak") is not None
    }
    assert fractions and doc["peak_exceeded"] == []
    assert max(fractions.values()) <= 1.0, max(fractions.items(), key=lambda kv: kv[1])


def test_the_published_run_has_every_model_and_framework_it_promises():
    doc = _published()
    ok = {(r["cell"]["model"], r["cell"]["framework"], r["cell"]["mode"])
          for r in doc["results"] if r["status"] == "ok"}  # fmt: skip
    for m in publish.PUBLISH_MODELS:
        for fw in doc["frameworks"]:
            assert (m.model, fw, "infer") in ok, (m.label, fw)
        assert (m.model, doc["settings"]["ort_export_of"], "ort") in ok
    assert {"mobilenet_v2", "vit_tiny"} <= {model for model, _fw, _mode in ok}
    every_cell_has_its_load = all("load" in r for r in doc["results"] if r["status"] == "ok")
    assert every_cell_has_its_load


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_the_headline_is_what_the_results_file_renders(page):
    doc = _published()
    block = publish_report.headline_block((ROOT / page).read_text(encoding="utf-8"))
    assert block == publish_report.headline(doc), f"{page}: run `make bench` (or render it)"


NUMBER = r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])"


def _cell_numbers(doc: dict, fw: str, label: str, mode: str) -> set[str]:
    """The numbers a headline cell may show for ``fw``: every ok cell of that model and mode
    at the headline's batch, as samples/s (3 significant digits) and % of the peak."""
    out = set()
    for r in doc["results"]:
        c = r["cell"]
        if (r["status"] == "ok" and c["framework"] == fw and label_of(c) == label
                and c["mode"] == mode and c["batch"] == publish.TUNED_BATCH):  # fmt: skip
            out |= {f"{r['samples_per_s']:.3g}", f"{100 * r['fraction_of_peak']:.0f}"}
    return out


def _ttq_numbers(doc: dict, task: str, fw: str) -> set[str]:
    out = set()
    for run in doc["ttq"]["runs"]:
        if run["task"] == task and run["framework"] == fw and run["status"] == "ok":
            out |= {str(run["steps"]), str(run["steps_run"])}
            if run["seconds"] is not None:
                out.add(f"{run['seconds']:.0f}")
    return out


def test_every_number_in_the_readme_headline_table_is_that_cells_number():
    """Row by row, column by column: a number under "ResNet-18 train" in the torch row is one
    of torch's ResNet-18 training cells at the headline batch in the results file."""
    doc = _published()
    block = publish_report.headline_block((ROOT / "README.md").read_text(encoding="utf-8"))
    rows = [ln.strip("|").split("|") for ln in block.splitlines() if ln.startswith("| ")]
    header, body = [h.strip() for h in rows[0]], rows[1:]
    columns = {t: (label, mode) for t, label, mode in publish_report.HEADLINE_COLUMNS}
    tasks = [t["task"] for t in doc["ttq"]["targets"]]
    ort_row = f"ONNX Runtime ({doc['settings']['ort_export_of']}'s export)"
    checked, wrong = 0, []
    assert [r[0].strip() for r in body] == [*doc["frameworks"], ort_row]
    for row in body:
        who = row[0].strip()
        fw = doc["settings"]["ort_export_of"] if who == ort_row else who
        for title, text in zip(header[1:], row[1:], strict=True):
            if title in columns:
                label, mode = columns[title]
                allowed = _cell_numbers(doc, fw, label, "ort" if who == ort_row else mode)
            else:
                allowed = _ttq_numbers(doc, next(t for t in tasks if title.startswith(t)), fw)
            for number in re.findall(NUMBER, text):
                checked += 1
                if number not in allowed:
                    wrong.append((who, title, number))
    assert checked > 2 * len(doc["frameworks"]) and not wrong, wrong


def test_a_peak_below_a_cell_is_reported_as_the_peaks_fault():
    cell = Cell("gan", "torch", "train", 8)
    doc = {
        "peak": {"gflops": 100.0},
        "results": [{"cell": json.loads(cell.to_json()), "status": "ok", "gflops": 150.0}],
    }
    publish.apply_peak(doc)
    assert doc["peak_exceeded"] == [cell.key]
    assert doc["results"][0]["fraction_of_peak"] == 1.5


def test_an_interrupted_run_continues_and_keeps_what_it_measured(tmp_path, monkeypatch):
    fake_peak = {"sizes": [512], "by_library": {"numpy": {"512": 50.0}}, "best_gflops": 50.0,
                 "best_of": "numpy"}  # fmt: skip
    monkeypatch.setattr(gemm_peak, "measure_all", lambda threads, fws=None: dict(fake_peak))
    monkeypatch.setattr(publish, "QUIET_PATIENCE_S", 0.0)
    gan = next(m for m in publish.PUBLISH_MODELS if m.model == "gan")
    cells = [c for c in publish.publish_cells(["torch"], repeats=1, max_seconds=0.2,
                                               models=(gan,)) if c.batch == 8]  # fmt: skip
    assert [(c.mode, c.variant) for c in cells] == [("train", "default"), ("infer", "default"),
                                                    ("ort", "tuned")]  # fmt: skip
    first = publish.new_document(["torch"], 2, "test", 0.2)
    first = publish.run_publish(first, tmp_path, cells[:2], ttq_tasks=())
    saved = json.loads((tmp_path / publish.RESULTS_FILE).read_text())
    assert saved["complete"] and [r["status"] for r in saved["results"]] == ["ok", "ok"]
    saved["complete"] = False  # as if it had stopped before its last cell
    (tmp_path / publish.RESULTS_FILE).write_text(json.dumps(saved))
    again = publish.resumable(tmp_path / publish.RESULTS_FILE,
                              publish.new_document(["torch"], 2, "test", 0.2))  # fmt: skip
    assert again is not None
    with pytest.raises(ValueError, match="other frameworks"):
        publish.resumable(tmp_path / publish.RESULTS_FILE,
                          publish.new_document(["torch", "jax"], 2, "test", 0.2))  # fmt: skip
    with pytest.raises(ValueError, match="other settings"):
        publish.resumable(tmp_path / publish.RESULTS_FILE,
                          publish.new_document(["torch"], 2, "test", 1.0))  # fmt: skip
    done = publish.run_publish(again, tmp_path, cells, ttq_tasks=())
    assert [r["samples_s"] for r in done["results"][:2]] == [
        r["samples_s"] for r in saved["results"]
    ]  # kept as measured, not re-run
    assert done["results"][2]["status"] == "ok" and done["results"][2]["cell"]["mode"] == "ort"
    assert [m["when"] for m in done["peak"]["measurements"]] == ["start", "end", "resume", "end"]


def test_a_busy_machine_is_seen_around_a_cell():
    spinner = subprocess.Popen(  # not waited for while measuring: it counts as someone else
        [sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<3: pass"]
    )
    try:
        meter = provenance.CpuMeter().start()  # around a child process (the runner's view)
        subprocess.run(["sleep", "1.0"], check=True)
        seen = meter.read()
        window = provenance.SelfMeter().start()  # around this process's work (the worker's)
        busy_wait(0.5)
        seen_here = window.read()
    finally:
        spinner.wait()
    assert seen["others_cores"] >= 0.6, seen
    assert seen_here["others_cores"] >= 0.6 and seen_here["seconds"] >= 0.5, seen_here


def busy_wait(seconds: float) -> None:
    import time

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_plain_bench_writes_the_same_provenance(tmp_path, monkeypatch):
    measured = []

    def fake_peak(threads, frameworks=None):
        measured.append(frameworks)
        return {"sizes": [512], "by_library": {"numpy": {"512": 90.0 + len(measured)}},
                "best_gflops": 90.0 + len(measured), "best_of": "numpy"}  # fmt: skip

    monkeypatch.setattr(gemm_peak, "measure_all", fake_peak)
    out = tmp_path / "bench"
    code = main(["bench", "gan", "-f", "torch", "--mode", "infer", "--batch", "8", "--variant",
                 "default", "--repeats", "2", "--no-overhead", "--out", str(out)])  # fmt: skip
    assert code == 0
    doc = json.loads((out / "bench.json").read_text())
    env = doc.get("environment", doc.get("env", {}))
    assert set(env["provenance"]) >= PROVENANCE_KEYS, sorted(env)
    assert measured == [["torch"], ["torch"]]  # at the start and the end, of the run's frameworks
    assert env["matmul_peak_gflops"] == 92.0 == doc["peak"]["gflops"]  # the larger of the two
    assert all("load" in r for r in doc["results"])


def test_every_published_file_has_provenance():
    """benchmarks/: the publish run's files carry theirs; every other file is in
    benchmarks/provenance.json with the command, commit and date that made it."""
    listed = subprocess.run(
        ["git", "ls-files", "benchmarks"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not listed:
        pytest.skip("not a git checkout: the published files cannot be listed")
    manifest = json.loads((ROOT / "benchmarks" / "provenance.json").read_text())["files"]
    own = {"benchmarks/README.md", "benchmarks/provenance.json"}
    missing, incomplete = [], []
    for path in listed:
        rel = path.removeprefix("benchmarks/")
        if path in own or rel.startswith("results/"):
            continue
        entry = manifest.get(rel)
        if entry is None:
            missing.append(rel)
        elif not all(entry.get(k) for k in ("command", "commit", "date", "cpu", "load")):
            incomplete.append(rel)
    assert not missing and not incomplete, {"missing": missing, "incomplete": incomplete}
    stale = sorted(set(manifest) - {p.removeprefix("benchmarks/") for p in listed})
    assert not stale, f"benchmarks/provenance.json lists files that are gone: {stale}"
    results = {p.removeprefix("benchmarks/results/") for p in listed if "/results/" in p}
    assert results <= {"publish.json", "publish.md", "throughput.png", "fraction_of_peak.png",
                       "memory.png", "time_to_quality.png"}, results  # fmt: skip


def test_publish_models_are_labelled_as_the_reports_label_them():
    """The tables and plots find a cell's model by `label_of`: every publish model must be
    one it knows, at the same size."""
    for m in publish.PUBLISH_MODELS:
        cell = Cell(m.model, "torch", "infer", 1, options=m.options)
        assert label_of(json.loads(cell.to_json())) == m.label
