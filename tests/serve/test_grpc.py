"""The KServe v2 gRPC endpoint over a real socket: every RPC through the unchanged
tritonclient.grpc, answers equal to in-process onnxruntime (raw and typed contents), faults
as gRPC status codes with one-line messages, and one dynamic batcher shared with HTTP."""

from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from triptych.serve import kserve_pb

grpcclient = pytest.importorskip(
    "tritonclient.grpc", reason="tritonclient not installed (pip install 'triptych[dev]')"
)
httpclient = pytest.importorskip("tritonclient.http")
InferenceServerException = pytest.importorskip("tritonclient.utils").InferenceServerException


@pytest.fixture(scope="module")
def servers(grpc_servers):
    return grpc_servers


def _z(rows, seed=0):
    return np.random.default_rng(seed).standard_normal((rows, 32)).astype(np.float32)


def _call(target, rpc, request):
    """One raw RPC with triptych's own messages (what a non-Triton KServe client sends)."""
    req_cls, resp_cls = kserve_pb.RPCS[rpc]
    with grpc.insecure_channel(target) as channel:
        method = channel.unary_unary(
            f"/{kserve_pb.SERVICE}/{rpc}",
            request_serializer=req_cls.SerializeToString,
            response_deserializer=resp_cls.FromString,
        )
        return method(request, timeout=30)


def test_health_and_metadata_rpcs(servers, repo):
    _, target, _, name = servers
    client = grpcclient.InferenceServerClient(target)
    assert client.is_server_live() and client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta.name == "triptych" and meta.version
    assert client.is_model_ready(name) and client.is_model_ready(name, "1")
    model = client.get_model_metadata(name)
    assert model.name == name and list(model.versions) == ["1"]
    assert model.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [("z", "FP32", [-1, 32])]
    assert [t.name for t in model.outputs] == [o.name for o in repo.get(name).outputs]


def test_tritonclient_grpc_infer_equals_in_process_onnxruntime(servers, repo):
    _, target, _, name = servers
    client = grpcclient.InferenceServerClient(target)
    x = _z(3)
    inp = grpcclient.InferInput("z", [3, 32], "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer(name, [inp], request_id="r7")
    np.testing.assert_array_equal(
        result.as_numpy("y"), repo.get(name).session.run(None, {"z": x})[0]
    )
    assert result.get_response().id == "r7"
    assert result.get_response().model_version == "1"


def test_typed_contents_equal_raw(servers, repo):
    _, target, _, name = servers
    x = _z(2, seed=3)
    req = kserve_pb.ModelInferRequest(model_name=name)
    t = req.inputs.add(name="z", datatype="FP32", shape=[2, 32])
    t.contents.fp32_contents.extend(x.ravel().tolist())
    req.outputs.add(name="y")
    resp = _call(target, "ModelInfer", req)
    assert [o.name for o in resp.outputs] == ["y"] and resp.outputs[0].shape[0] == 2
    y = np.frombuffer(resp.raw_output_contents[0], np.float32).reshape(resp.outputs[0].shape)
    np.testing.assert_array_equal(y, repo.get(name).session.run(None, {"z": x})[0])


def _raw_request(name, x, **fields):
    req = kserve_pb.ModelInferRequest(model_name=name, **fields)
    req.inputs.add(name="z", datatype="FP32", shape=list(x.shape))
    req.raw_input_contents.append(x.tobytes())
    return req


@pytest.mark.parametrize(
    "mutate, code, words",
    [
        (lambda r: setattr(r, "model_name", "nope"), "NOT_FOUND", "unknown model 'nope'"),
        (lambda r: setattr(r, "model_version", "9"), "NOT_FOUND", "has no version '9'"),
        (lambda r: setattr(r.inputs[0], "name", "q"), "INVALID_ARGUMENT", "unknown input 'q'"),
        (lambda r: setattr(r.inputs[0], "datatype", "FP64"), "INVALID_ARGUMENT", "takes FP32"),
        (lambda r: setattr(r.inputs[0], "datatype", "BYTES"), "INVALID_ARGUMENT", "datatype"),
        (lambda r: r.inputs[0].shape.append(1), "INVALID_ARGUMENT", "rank 3"),
        (lambda r: r.inputs[0].shape.__setitem__(1, 31), "INVALID_ARGUMENT", "dimension 1"),
        (lambda r: r.inputs[0].shape.__setitem__(0, -2), "INVALID_ARGUMENT", "negative"),
        (lambda r: r.raw_input_contents.__setitem__(0, b"abc"), "INVALID_ARGUMENT", "bytes"),
        (lambda r: r.raw_input_contents.append(b""), "INVALID_ARGUMENT", "2 entries for 1"),
        (lambda r: r.outputs.add(name="nope"), "INVALID_ARGUMENT", "unknown requested output"),
        (lambda r: r.inputs.add(name="z", datatype="FP32"), "INVALID_ARGUMENT", "entries for 2"),
    ],
)
def test_faults_are_grpc_status_codes_with_one_line(servers, mutate, code, words):
    _, target, _, name = servers
    req = _raw_request(name, _z(1))
    mutate(req)
    with pytest.raises(grpc.RpcError) as info:
        _call(target, "ModelInfer", req)
    assert info.value.code().name == code
    assert words in info.value.details() and "\n" not in info.value.details()


def test_typed_faults(servers):
    _, target, _, name = servers
    req = kserve_pb.ModelInferRequest(model_name=name)
    t = req.inputs.add(name="z", datatype="FP32", shape=[1, 32])
    t.contents.fp32_contents.extend([0.0] * 31)
    with pytest.raises(grpc.RpcError) as info:
        _call(target, "ModelInfer", req)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "31 elements" in info.value.details()
    t.contents.Clear()
    t.contents.int_contents.extend([0] * 32)
    with pytest.raises(grpc.RpcError) as info:
        _call(target, "ModelInfer", req)
    assert "takes contents.fp32_contents" in info.value.details()
    t.contents.Clear()
    with pytest.raises(grpc.RpcError) as info:  # no data at all
        _call(target, "ModelInfer", req)
    assert "0 elements" in info.value.details()


def test_batch_over_the_limit_and_unknown_model_rpcs(servers):
    _, target, _, name = servers
    with pytest.raises(grpc.RpcError) as info:
        _call(target, "ModelInfer", _raw_request(name, _z(65)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "over the limit 64" in info.value.details()
    for rpc in ("ModelReady", "ModelMetadata"):
        with pytest.raises(grpc.RpcError) as info:
            _call(target, rpc, kserve_pb.RPCS[rpc][0](name="nope"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    client = grpcclient.InferenceServerClient(target)
    with pytest.raises(InferenceServerException, match="unknown model"):
        client.get_model_metadata("nope")


def test_grpc_and_http_share_one_dynamic_batcher(servers, repo):
    url, target, app, name = servers
    xs = [_z(i % 3 + 1, seed=i) for i in range(16)]
    before = app.state.batchers.get((name, "1"))
    runs0 = before.batches_run if before else 0

    def call(i):
        x = xs[i]
        if i % 2:
            c = grpcclient.InferenceServerClient(target)
            inp = grpcclient.InferInput("z", list(x.shape), "FP32")
        else:
            c = httpclient.InferenceServerClient(url)
            inp = httpclient.InferInput("z", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        return c.infer(name, [inp]).as_numpy("y")

    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(call, range(16)))
    session = repo.get(name).session
    for x, y in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(y, session.run(None, {"z": x})[0])
    runs = app.state.batchers[(name, "1")].batches_run - runs0
    assert 1 <= runs < 16


def test_grpc_requests_are_counted_in_metrics(servers):
    _, target, app, name = servers
    before = app.state.metrics.render()
    client = grpcclient.InferenceServerClient(target)
    inp = grpcclient.InferInput("z", [1, 32], "FP32")
    inp.set_data_from_numpy(_z(1))
    client.infer(name, [inp])
    assert app.state.metrics.render() != before
