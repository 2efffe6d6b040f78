"""The adversarial review's probes: every malformed request is a 4xx with ``{"error": msg}``,
never a 500; metrics labels cannot be injected; strict booleans; non-finite floats."""

import json

import numpy as np
import pytest
from serve_wire import error_of, raw

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.server import serving

httpclient = pytest.importorskip(
    "tritonclient.http", reason="tritonclient not installed (pip install 'triptych[dev]')"
)


@pytest.fixture(scope="module")
def served(repo, onnx_root):
    app = create_app(repo, ServeConfig(max_batch=64, max_body=8 << 20))
    with serving(app) as url:
        yield url, f"gan.generator.{onnx_root[1]}"


def _spec(**over):
    spec = {"name": "z", "shape": [1, 32], "datatype": "FP32", "data": [0.5] * 32}
    spec.update(over)
    return spec


def _doc(**over):
    return json.dumps({"inputs": [_spec(**over)]}).encode()


DEEP = b'{"inputs":[{"name":"z","shape":[1,32],"datatype":"FP32","data":' + (
    b"[" * 10_000 + b"]" * 10_000 + b"}]}"
)
PROBES = [
    ("datatype list", _doc(datatype=["FP32"]), {}, "unknown datatype"),
    ("datatype object", _doc(datatype={"a": 1}), {}, "unknown datatype"),
    ("input parameters list", _doc(parameters=[1]), {}, "'parameters' must be a JSON object"),
    ("input parameters string", _doc(parameters="x"), {}, "'parameters' must be a JSON object"),
    (
        "request parameters list",
        json.dumps({"inputs": [_spec()], "parameters": [1, 2]}).encode(),
        {},
        "'parameters' must be a JSON object",
    ),
    (
        "output parameters number",
        json.dumps({"inputs": [_spec()], "outputs": [{"name": "y", "parameters": 3}]}).encode(),
        {},
        "'parameters' must be a JSON object",
    ),
    ("400-digit integer", _doc(data=[10**399] + [0] * 31), {}, "data"),
    (
        "5000-digit integer",
        b'{"inputs":[{"name":"z","shape":[1,32],"datatype":"FP32","data":[' + b"9" * 5000 + b"]}]}",
        {},
        "malformed JSON",
    ),
    ("10,000 levels of nesting", DEEP, {}, "malformed JSON"),
    ("dimension 10**400", _doc(shape=[1, 10**400]), {}, "more than"),
    ("batch dimension 10**400", _doc(shape=[10**400, 32]), {}, "more than"),
    ("header length non-ASCII digit", _doc(), {"Inference-Header-Content-Length": "²"}, "ASCII"),
    ("header length negative", _doc(), {"Inference-Header-Content-Length": "-5"}, "ASCII"),
    ("header length too big", _doc(), {"Inference-Header-Content-Length": "9" * 400}, "ASCII"),
    ("header length over body", _doc(), {"Inference-Header-Content-Length": "99999"}, "longer"),
    ("binary_data_output string", b"", {}, "must be true or false"),
    ("binary_data string", b"", {}, "must be true or false"),
    ("binary_data_size float", _doc(parameters={"binary_data_size": 1.5}), {}, "non-negative"),
    ("data string", _doc(data="abc"), {}, "must be a (flat or nested) list"),
    ("data with null", _doc(data=[None] * 32), {}, "non-numeric"),
    ("data with strings of numbers", _doc(data=["1.5"] * 32), {}, "non-numeric"),
    ("data with objects", _doc(data=[{}] * 32), {}, "non-numeric"),
    ("data ragged", _doc(data=[[0.5] * 32, [0.5]], shape=[1, 32]), {}, "nested 'data'"),
    ("data ragged deeper", _doc(data=[[0.5] * 31 + [[1]]]), {}, "ragged"),
    ("data nested too deep", _doc(data=[[[0.5]] * 32]), {}, "nested 'data'"),
    ("data for 1 row, shape 2 rows", _doc(shape=[2, 32]), {}, "32 elements"),
    ("id a number", json.dumps({"id": 5, "inputs": [_spec()]}).encode(), {}, "'id'"),
    ("name a list", _doc(name=["z"]), {}, "unknown input"),
    ("outputs not a list", json.dumps({"inputs": [_spec()], "outputs": 1}).encode(), {}, "list"),
    ("rank over 32", _doc(shape=[1] * 40), {}, "rank"),
    ("body not UTF-8", b'{"inputs": "\xff\xfe"}', {}, "malformed JSON"),
    ("empty body", b"", {}, "malformed JSON"),
]


def _probe_body(label, body):
    if label == "binary_data_output string":
        return json.dumps(
            {"inputs": [_spec()], "parameters": {"binary_data_output": "false"}}
        ).encode()
    if label == "binary_data string":
        return json.dumps(
            {
                "inputs": [_spec()],
                "outputs": [{"name": "y", "parameters": {"binary_data": "false"}}],
            }
        ).encode()
    return body


@pytest.mark.parametrize("label, body, headers, words", PROBES, ids=[p[0] for p in PROBES])
def test_probe_gets_a_4xx_json_error_never_500(served, label, body, headers, words):
    url, name = served
    status, data = raw(url, "POST", f"/v2/models/{name}/infer", _probe_body(label, body), headers)
    assert status == 400, (status, data[:300])
    message = error_of(data)
    assert words in message, message
    assert len(message) < 1000  # client input is not echoed back whole
    assert raw(url, "GET", "/v2/health/live")[0] == 200


def test_404_405_routes_are_json(served):
    url, name = served
    for method, path, status in [
        ("GET", "/nope", 404),
        ("GET", f"/v2/models/{name}/infer", 405),
        ("DELETE", "/v2/health/live", 405),
        ("GET", "/v2/models/" + "x" * 5000, 404),
        ("POST", "/v2/models/%0Aevil/infer", 404),
    ]:
        code, data = raw(url, method, path)
        assert code == status and "error" in json.loads(data), (path, data[:200])


def test_metrics_labels_only_for_served_models_and_cannot_be_injected(served):
    url, name = served
    evil = "%22%7D%201%0Atriptych_requests_total%7Bmodel%3D%22pwned"  # "} 1\ntriptych..{model="
    assert raw(url, "POST", f"/v2/models/{evil}/infer", b"{}")[0] == 404
    before = raw(url, "GET", "/metrics")[1]
    for i in range(2000):
        raw(url, "POST", f"/v2/models/unknown{i}/infer", b"{}")
    text = raw(url, "GET", "/metrics")[1].decode()
    assert "pwned" not in text and "unknown1" not in text
    assert len(text) - len(before) < 100  # only the unknown-names counter changed
    assert "triptych_unknown_model_requests_total 20" in text
    for line in text.splitlines():
        assert line.startswith("#") or line.startswith("triptych_"), line
    assert f'model="{name}"' in text


def test_strict_booleans_accept_real_booleans(served):
    url, name = served
    doc = {"inputs": [_spec()], "parameters": {"binary_data_output": False}}
    status, data = raw(url, "POST", f"/v2/models/{name}/infer", json.dumps(doc).encode())
    assert status == 200 and "data" in json.loads(data)["outputs"][0]


def test_non_finite_floats_round_trip_through_tritonclient_json(served, repo):
    """NaN/inf outputs go out as the literals NaN/Infinity, which tritonclient reads."""
    url, name = served
    z = np.zeros((2, 32), np.float32)
    z[0, 0], z[1, 0] = np.nan, np.inf
    reference = repo.get(name).session.run(None, {"z": z})[0]
    assert not np.isfinite(reference).all()  # the probe really makes non-finite outputs
    client = httpclient.InferenceServerClient(url=url)
    inp = httpclient.InferInput("z", [2, 32], "FP32")
    inp.set_data_from_numpy(z, binary_data=False)  # rapidjson writes NaN/Infinity literals
    out = client.infer(name, [inp], outputs=[httpclient.InferRequestedOutput("y", False)])
    np.testing.assert_array_equal(out.as_numpy("y"), reference)  # NaN == NaN here
    status, data = raw(
        url,
        "POST",
        f"/v2/models/{name}/infer",
        b'{"inputs":[{"name":"z","shape":[1,32],"datatype":"FP32","data":[NaN'
        + b",0" * 31
        + b"]}]}",
    )
    assert status == 200 and b"NaN" in data
    assert np.isnan(json.loads(data)["outputs"][0]["data"]).any()


def test_integer_and_bool_validation_is_vectorised_and_strict():
    from triptych.serve.errors import ServeError
    from triptych.serve.tensors import from_json

    assert from_json([1, 2], np.dtype(np.int32), [2], "x").dtype == np.int32
    assert from_json([[1.5, 2]], np.dtype(np.float16), [1, 2], "x").dtype == np.float16
    assert from_json([True, False], np.dtype(bool), [2], "x").tolist() == [True, False]
    for data, dtype in [
        ([2**31], np.int32),
        ([-1], np.uint8),
        ([1.5], np.int64),
        ([1, 0], bool),
        ([True], np.float32),
        ([2**64], np.uint64),
    ]:
        with pytest.raises(ServeError) as e:
            from_json(data, np.dtype(dtype), [1] if len(data) == 1 else [2], "x")
        assert e.value.status == 400
