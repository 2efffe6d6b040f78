"""Dynamic batching keeps answers exact; the Triton repository written by export is what
Triton expects and is served by triptych."""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import triptych
from triptych.cli import main
from triptych.serve.app import ServeConfig, create_app
from triptych.serve.repository import Repository
from triptych.serve.server import serving

httpclient = pytest.importorskip(
    "tritonclient.http", reason="tritonclient not installed (pip install 'triptych[dev]')"
)


def _exporter(fw):
    return "torchscript" if fw == "torch" else None


class Gated:
    """The real onnxruntime session, whose first run waits until the test opens the gate
    (so the other requests arrive while the model is busy, whatever the machine's speed)."""

    def __init__(self, session) -> None:
        self.session, self.gate, self.first = session, threading.Event(), True

    def run(self, names, feeds):
        if self.first:
            self.first = False
            assert self.gate.wait(60), "the test never opened the gate"
        return self.session.run(names, feeds)


def test_dynamic_batching_merges_concurrent_requests_exactly(tmp_path):
    fw = triptych.frameworks()[0]
    path = triptych.create("gan", framework=fw).export_onnx(
        tmp_path, networks=["generator"], exporter=_exporter(fw)
    )["generator"]
    repo = Repository.from_path(path)
    name = path.stem
    model = repo.get(name)
    real = model.session
    model.session, model.run_s = Gated(real), None  # never inline: the loop keeps reading
    app = create_app(repo, ServeConfig(max_batch=64, max_delay_ms=30))
    batcher = app.state.batchers[(name, "1")]
    xs = [
        np.random.default_rng(i).standard_normal((i % 3 + 1, 32)).astype(np.float32)
        for i in range(16)
    ]
    with serving(app) as url:

        def call(x):
            client = httpclient.InferenceServerClient(url=url)
            inp = httpclient.InferInput("z", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=True)
            return client.infer(name, [inp]).as_numpy("y")

        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(call, x) for x in xs]
            deadline = time.monotonic() + 60
            while len(batcher.queue) < 15 and time.monotonic() < deadline:
                time.sleep(0.01)
            model.session.gate.set()
            outs = [f.result() for f in futures]
    for x, y in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(y, real.run(None, {"z": x})[0])
    # the first ran alone at once; the 15 that came while it ran, merged into one run
    assert batcher.batch_requests == {1: 1, 15: 1}, batcher.batch_requests
    assert sum(batcher.batch_rows.elements()) == sum(len(x) for x in xs)


def test_export_writes_a_triton_repository_that_triptych_serves(tmp_path):
    fw = triptych.frameworks()[0]
    args = [
        "export",
        "conv_autoencoder",
        "-f",
        fw,
        "--out",
        str(tmp_path / "onnx"),
        "--triton-repo",
        str(tmp_path / "repo"),
    ]
    if fw == "torch":
        args += ["--exporter", "torchscript"]
    assert main(args) == 0
    name = f"conv_autoencoder_encoder_{fw}"
    model_dir = tmp_path / "repo" / name
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "config.pbtxt"]
    assert (model_dir / "1" / "model.onnx").is_file()
    text = (model_dir / "config.pbtxt").read_text()
    assert re.search(rf'^name: "{name}"$', text, re.M)
    assert 'platform: "onnxruntime_onnx"' in text and "max_batch_size: 256" in text
    assert re.search(
        r'input \[\s*\{\s*name: "x"\s*data_type: TYPE_FP32\s*dims: \[ 1, 8, 8 \]', text
    )
    assert re.search(
        r'output \[\s*\{\s*name: "y"\s*data_type: TYPE_FP32\s*dims: \[ 32, 2, 2 \]', text
    )
    assert re.search(r"dynamic_batching \{\s*max_queue_delay_microseconds: \d+\s*\}", text)
    repo = Repository.from_path(tmp_path / "repo")
    assert set(repo.models) == {name, f"conv_autoencoder_decoder_{fw}"}
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    with serving(create_app(repo)) as url:
        client = httpclient.InferenceServerClient(url=url)
        inp = httpclient.InferInput("x", [4, 1, 8, 8], "FP32")
        inp.set_data_from_numpy(x)
        y = client.infer(name, [inp], model_version="1").as_numpy("y")
    np.testing.assert_array_equal(y, repo.get(name).session.run(None, {"x": x})[0])
