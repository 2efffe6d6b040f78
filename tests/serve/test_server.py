"""The KServe v2 server over a real loopback socket, with the standard tritonclient."""

import json

import numpy as np
import pytest
from serve_wire import raw as _raw
from serve_wire import reply_body, send_streaming

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.server import serving

httpclient = pytest.importorskip(
    "tritonclient.http", reason="tritonclient not installed (pip install 'triptych[dev]')"
)


@pytest.fixture(scope="module")
def served(repo, onnx_root):
    fw = onnx_root[1]
    with serving(create_app(repo, ServeConfig(max_batch=64, max_body=1 << 20))) as url:
        yield url, repo, fw


def _reference(repo, name, x):
    model = repo.get(name)
    return model.session.run(None, {model.inputs[0].name: x})[0]


@pytest.mark.parametrize("binary", [False, True])
def test_tritonclient_health_metadata_and_exact_outputs(served, binary):
    url, repo, fw = served
    client = httpclient.InferenceServerClient(url=url)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["name"] == "triptych"
    cases = {
        f"gan.generator.{fw}": np.random.default_rng(0).standard_normal((5, 32)),
        f"conv_autoencoder.encoder.{fw}": np.random.default_rng(1).random((3, 1, 8, 8)),
        f"conv_autoencoder.decoder.{fw}": np.random.default_rng(2).random((2, 32, 2, 2)),
    }
    for name, x in cases.items():
        x = x.astype(np.float32)
        meta = client.get_model_metadata(name)
        assert meta["inputs"][0]["shape"][0] == -1 and client.is_model_ready(name)
        inp = httpclient.InferInput(meta["inputs"][0]["name"], list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=binary)
        out_name = meta["outputs"][0]["name"]
        result = client.infer(
            name,
            [inp],
            outputs=[httpclient.InferRequestedOutput(out_name, binary_data=binary)],
            request_id="r-7",
        )
        assert result.get_response()["id"] == "r-7"
        np.testing.assert_array_equal(result.as_numpy(out_name), _reference(repo, name, x))


def _infer_doc(name="z", shape=(2, 32), datatype="FP32", data=None, **extra):
    spec = {
        "name": name,
        "shape": list(shape),
        "datatype": datatype,
        "data": data if data is not None else [0.5] * int(np.prod(shape)),
    }
    spec.update(extra)
    return {"inputs": [spec]}


def _binary(doc, blob, header_len=None):
    head = json.dumps(doc).encode()
    return head + blob, {
        "Inference-Header-Content-Length": str(len(head) if header_len is None else header_len)
    }


BAD = [
    ("malformed JSON", b"{not json", {}, 400, "malformed JSON"),
    ("not an object", b"[1, 2]", {}, 400, "must be a JSON object"),
    ("missing inputs", b'{"outputs": []}', {}, 400, "non-empty 'inputs'"),
    (
        "missing datatype",
        json.dumps({"inputs": [{"name": "z", "shape": [1, 32], "data": [0] * 32}]}),
        {},
        400,
        "missing datatype",
    ),
    ("unknown datatype", _infer_doc(datatype="FP99"), {}, 400, "unknown datatype 'FP99'"),
    ("other datatype", _infer_doc(datatype="FP64"), {}, 400, "the model takes FP32"),
    ("wrong rank", _infer_doc(shape=(2, 32, 1)), {}, 400, "rank 3"),
    ("wrong fixed dim", _infer_doc(shape=(2, 31)), {}, 400, "dimension 1 is 31"),
    ("negative dim", _infer_doc(shape=(-2, 32), data=[0.0]), {}, 400, "negative dimension"),
    ("huge dims", _infer_doc(shape=(1 << 20, 1 << 20), data=[0.0]), {}, 400, "more than"),
    ("count mismatch", _infer_doc(data=[0.1] * 63), {}, 400, "63 elements"),
    ("non-numeric", _infer_doc(data=["a"] * 64), {}, 400, "non-numeric"),
    ("unknown input", _infer_doc(name="q"), {}, 400, "unknown input 'q'"),
    ("duplicate input", {"inputs": _infer_doc()["inputs"] * 2}, {}, 400, "duplicate input"),
    (
        "unknown output",
        {**_infer_doc(), "outputs": [{"name": "nope"}]},
        {},
        400,
        "unknown requested output 'nope'",
    ),
    (
        "duplicate output",
        {**_infer_doc(), "outputs": [{"name": "y"}, {"name": "y"}]},
        {},
        400,
        "duplicate requested output",
    ),
    ("batch over limit", _infer_doc(shape=(65, 32)), {}, 400, "over the limit 64"),
]


@pytest.mark.parametrize("label, body, headers, status, words", BAD, ids=[b[0] for b in BAD])
def test_bad_json_requests_get_400_and_the_server_stays_live(
    served, label, body, headers, status, words
):
    url, _, fw = served
    payload = (
        body
        if isinstance(body, bytes)
        else json.dumps(body).encode()
        if not isinstance(body, str)
        else body.encode()
    )
    code, data = _raw(url, "POST", f"/v2/models/gan.generator.{fw}/infer", payload, headers)
    assert code == status, data
    assert words in json.loads(data)["error"]
    assert _raw(url, "GET", "/v2/health/live")[0] == 200


def test_binary_extension_faults(served):
    url, _, fw = served
    path = f"/v2/models/gan.generator.{fw}/infer"
    blob = np.zeros((2, 32), np.float32).tobytes()

    def doc(size):
        return {
            "inputs": [
                {
                    "name": "z",
                    "shape": [2, 32],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": size},
                }
            ]
        }

    cases = [
        (_binary(doc(256), blob), 200, None),
        (_binary(doc(255), blob[:255]), 400, "needs 256 bytes"),
        (_binary(doc(256), blob[:100]), 400, "only 100 bytes are left"),
        (_binary(doc(256), blob + b"xx"), 400, "2 bytes of binary data left over"),
        (
            (json.dumps(doc(256)).encode() + blob, {"Inference-Header-Content-Length": "ab"}),
            400,
            "non-negative integer",
        ),
        (_binary(doc(256), blob, header_len=10_000), 400, "longer than the body"),
        ((json.dumps(doc(256)).encode() + blob, {}), 400, "malformed JSON"),
    ]
    for (body, headers), status, words in cases:
        code, data = _raw(url, "POST", path, body, headers)
        assert code == status, (words, data[:200])
        if words:
            assert words in json.loads(data)["error"]


def test_404_405_413_and_metrics(served):
    url, _, fw = served
    code, data = _raw(url, "POST", "/v2/models/nope/infer", b"{}")
    assert code == 404 and "unknown model 'nope'" in json.loads(data)["error"]
    code, data = _raw(url, "GET", f"/v2/models/gan.generator.{fw}/versions/7")
    assert code == 404 and "no version '7'" in json.loads(data)["error"]
    code, data = _raw(url, "GET", f"/v2/models/gan.generator.{fw}/infer")
    assert code == 405 and "error" in json.loads(data)
    head = (
        f"POST /v2/models/gan.generator.{fw}/infer HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {2 << 20}\r\n\r\n"
    ).encode()
    code, reply, _ = send_streaming(url, head, [b"x" * 65536] * 32)
    assert code == 413 and "over the limit" in json.loads(reply_body(reply))["error"]
    assert b"connection: close" in reply.lower()  # refused before the body, then closed
    path = f"/v2/models/gan.generator.{fw}/infer"  # one good and one bad request of its own
    assert _raw(url, "POST", path, json.dumps(_infer_doc()).encode())[0] == 200
    assert _raw(url, "POST", path, b"{not json")[0] == 400
    code, data = _raw(url, "GET", "/metrics")
    text = data.decode()
    assert code == 200 and f'triptych_requests_total{{model="gan.generator.{fw}"}}' in text
    assert "triptych_latency_seconds_bucket" in text and 'status="400"' in text
    assert _raw(url, "GET", "/v2/health/ready")[0] == 200
