"""Every zoo model's exported networks are served over KServe v2 and answer a tritonclient
request equal to in-process ORT; and each model runs a benchmark cell."""

import numpy as np
import pytest
from zoo_commands import MODELS, read_json, run_ok

from triptych.common import zoo
from triptych.model import create
from triptych.serve.app import create_app
from triptych.serve.repository import Repository
from triptych.serve.server import serving

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient not installed")


@pytest.mark.parametrize("name", MODELS)
def test_served_networks_answer_like_ort(name, tmp_path):
    model = create(name, framework="torch")
    paths = model.export_onnx(tmp_path, exporter=model.backend.fast_exporter)
    repo = Repository.from_path(tmp_path)
    with serving(create_app(repo)) as url:
        client = httpclient.InferenceServerClient(url=url)
        for net, path in paths.items():
            served = repo.get(path.stem)
            x = np.random.default_rng(0).random((2, *model.spec.networks[net].input_shape))
            x = x.astype(np.float32)
            inp = httpclient.InferInput(served.inputs[0].name, list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=True)
            y = client.infer(path.stem, [inp]).as_numpy(served.outputs[0].name)
            np.testing.assert_array_equal(
                y, served.session.run(None, {served.inputs[0].name: x})[0]
            )


@pytest.mark.parametrize("name", MODELS)
def test_bench_cell(name, tmp_path, capsys):
    args = ["bench", name, "-f", "torch", "--mode", "infer", "--variant", "default"]
    run_ok(
        [*args, "--batch", "2", "--repeats", "2", "--no-overhead", "--peak-gflops", "100",
         "--out", str(tmp_path)], capsys,
    )  # fmt: skip
    results = read_json(tmp_path / "bench.json")
    assert results["peak"]["measurements"][0]["best_of"] == "given with --peak-gflops"
    cells = results["results"] if isinstance(results, dict) else results
    assert [c["status"] for c in cells] == ["ok"]
    assert zoo.entry(name).name == name
