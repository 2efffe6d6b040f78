"""Integer model inputs (token ids into an embedding): an ONNX model whose input is INT64 (or
INT32) is served with that KServe v2 datatype over HTTP JSON, HTTP binary tensors and gRPC,
and a client that sends FP32 to it gets a 400 / INVALID_ARGUMENT naming the datatype the
model takes."""

import json

import numpy as np
import pytest
from onnx import TensorProto
from serve_wire import error_of, raw
from tiny_models import embedding_model

from triptych.serve.app import create_app
from triptych.serve.grpc_server import create_grpc_server
from triptych.serve.repository import Repository
from triptych.serve.server import free_port, serving

httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")
from tritonclient.utils import InferenceServerException  # noqa: E402

TABLE = np.arange(30, dtype=np.float32).reshape(10, 3) / 7.0
IDS = np.array([[0, 1, 2, 3, 4], [9, 9, 8, 0, 1]], np.int64)
EXPECTED = TABLE[IDS].mean(axis=(1, 2))


@pytest.fixture(scope="module")
def int_servers(tmp_path_factory):
    """(HTTP "host:port", gRPC "host:port") serving ``ids64`` (INT64) and ``ids32`` (INT32)."""
    root = tmp_path_factory.mktemp("int_models")
    embedding_model(root / "ids64.onnx", TABLE, TensorProto.INT64)
    embedding_model(root / "ids32.onnx", TABLE, TensorProto.INT32)
    app = create_app(Repository.from_path(root))
    port = free_port()
    factory = lambda: create_grpc_server(app.state.core, "127.0.0.1", port)  # noqa: E731
    with serving(app, grpc_factory=factory) as url:
        yield url, f"127.0.0.1:{port}"


@pytest.mark.parametrize("model, datatype", [("ids64", "INT64"), ("ids32", "INT32")])
def test_metadata_and_json_requests_use_the_integer_datatype(int_servers, model, datatype):
    url, _ = int_servers
    status, body = raw(url, "GET", f"/v2/models/{model}")
    assert status == 200 and json.loads(body)["inputs"][0]["datatype"] == datatype
    doc = {"inputs": [{"name": "ids", "shape": [2, 5], "datatype": datatype,
                       "data": IDS.tolist()}]}  # fmt: skip
    status, body = raw(url, "POST", f"/v2/models/{model}/infer", json.dumps(doc).encode())
    assert status == 200
    np.testing.assert_allclose(json.loads(body)["outputs"][0]["data"], EXPECTED, rtol=1e-6)


@pytest.mark.parametrize("model, dtype, datatype", [("ids64", np.int64, "INT64"),
                                                    ("ids32", np.int32, "INT32")])  # fmt: skip
def test_binary_tensors_over_http_and_grpc(int_servers, model, dtype, datatype):
    url, target = int_servers
    for client_module, address in ((httpclient, url), (grpcclient, target)):
        client = client_module.InferenceServerClient(address)
        inp = client_module.InferInput("ids", [2, 5], datatype)
        if client_module is httpclient:
            inp.set_data_from_numpy(IDS.astype(dtype), binary_data=True)
        else:
            inp.set_data_from_numpy(IDS.astype(dtype))
        np.testing.assert_allclose(client.infer(model, [inp]).as_numpy("y"), EXPECTED, rtol=1e-6)
        client.close()


def test_fp32_sent_to_an_int64_input_is_refused_naming_the_datatype(int_servers):
    url, target = int_servers
    doc = {"inputs": [{"name": "ids", "shape": [2, 5], "datatype": "FP32",
                       "data": IDS.astype(float).ravel().tolist()}]}  # fmt: skip
    status, body = raw(url, "POST", "/v2/models/ids64/infer", json.dumps(doc).encode())
    assert status == 400
    assert error_of(body) == "input 'ids': datatype FP32 but the model takes INT64"
    client = grpcclient.InferenceServerClient(target)
    inp = grpcclient.InferInput("ids", [2, 5], "FP32")
    inp.set_data_from_numpy(IDS.astype(np.float32))
    with pytest.raises(InferenceServerException) as err:
        client.infer("ids64", [inp])
    assert "INVALID_ARGUMENT" in str(err.value.status())
    assert "datatype FP32 but the model takes INT64" in err.value.message()
    client.close()


def test_json_floats_for_an_int64_input_are_refused(int_servers):
    url, _ = int_servers
    doc = {"inputs": [{"name": "ids", "shape": [1, 5], "datatype": "INT64",
                       "data": [0.5, 1, 2, 3, 4]}]}  # fmt: skip
    status, body = raw(url, "POST", "/v2/models/ids64/infer", json.dumps(doc).encode())
    assert status == 400 and "INT64" in error_of(body) and "integers" in error_of(body)
