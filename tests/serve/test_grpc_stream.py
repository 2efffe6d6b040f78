"""Triton's ModelStreamInfer over a real socket: tritonclient.grpc's own stream API gets
answers equal to in-process onnxruntime, a faulty request is answered with its error while
the stream goes on, and open streams are capped (per client connection) so unary calls
always find a thread; `test_stream_limits` has the idle timeout and eviction."""

import queue
import threading
import time

import grpc
import numpy as np
import pytest

from triptych.serve import kserve_pb
from triptych.serve.grpc_codec import stream_response
from triptych.serve.grpc_server import MAX_STREAMS_PER_CLIENT

grpcclient = pytest.importorskip(
    "tritonclient.grpc", reason="tritonclient not installed (pip install 'triptych[dev]')"
)


def _z(rows, seed):
    return np.random.default_rng(seed).standard_normal((rows, 32)).astype(np.float32)


def _stream(target):
    """A tritonclient stream: (client, queue of (result, error) in arrival order)."""
    client = grpcclient.InferenceServerClient(target)
    answers: queue.SimpleQueue = queue.SimpleQueue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    return client, answers


def _send(client, name, x, request_id):
    inp = grpcclient.InferInput("z", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    client.async_stream_infer(name, [inp], request_id=request_id)


def test_tritonclient_stream_answers_equal_in_process_onnxruntime(grpc_servers, repo):
    _, target, app, name = grpc_servers
    session = repo.get(name).session
    client, answers = _stream(target)
    xs = {f"r{i}": _z(1 + i % 3, seed=i) for i in range(24)}
    for rid, x in xs.items():
        _send(client, name, x, rid)
    got = [answers.get(timeout=30) for _ in xs]
    client.stop_stream()
    assert [r.get_response().id for r, _ in got] == list(xs)  # in order, one answer each
    for result, error in got:
        assert error is None
        rid = result.get_response().id
        np.testing.assert_array_equal(result.as_numpy("y"), session.run(None, {"z": xs[rid]})[0])
    assert f'model="{name}"' in app.state.metrics.render()


def test_a_faulty_request_gets_its_error_and_the_stream_goes_on(grpc_servers, repo):
    _, target, _, name = grpc_servers
    client, answers = _stream(target)
    _send(client, name, _z(1, 1), "good-1")
    _send(client, name, _z(1, 2)[:, :31], "bad")  # the model takes 32 values a row
    _send(client, name, _z(1, 3), "good-2")
    got = [answers.get(timeout=30) for _ in range(3)]
    client.stop_stream()
    (r1, e1), (r2, e2), (r3, e3) = got
    assert e1 is None and r1.get_response().id == "good-1"
    assert r2 is None and "input 'z'" in e2.message() and "31" in e2.message()
    assert e3 is None and r3.get_response().id == "good-2"
    np.testing.assert_array_equal(
        r3.as_numpy("y"), repo.get(name).session.run(None, {"z": _z(1, 3)})[0]
    )


def _request_bytes(name: str) -> bytes:
    req = kserve_pb.ModelInferRequest(model_name=name)
    req.inputs.add(name="z", datatype="FP32", shape=[1, 32])
    req.raw_input_contents.append(_z(1, 0).tobytes())
    return req.SerializeToString()


def _raw_stream(channel, request: bytes):
    """A raw ModelStreamInfer that sends ``request`` once, then waits to be told to end."""
    feed: queue.SimpleQueue = queue.SimpleQueue()
    feed.put(request)

    def requests():
        while (item := feed.get()) is not None:
            yield item

    call = channel.stream_stream(f"/{kserve_pb.SERVICE}/ModelStreamInfer")(requests())
    return call, feed


def test_open_streams_are_capped_per_client_and_unary_calls_still_run(grpc_servers):
    _, target, _, name = grpc_servers
    request = _request_bytes(name)
    channel = grpc.insecure_channel(target)
    opened = [_raw_stream(channel, request) for _ in range(MAX_STREAMS_PER_CLIENT)]
    for call, _ in opened:  # each answered: its handler thread holds the stream now
        assert kserve_pb.ModelStreamInferResponse.FromString(next(call)).infer_response.outputs
    extra, extra_feed = _raw_stream(channel, request)
    with pytest.raises(grpc.RpcError) as err:
        next(extra)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"this client has {MAX_STREAMS_PER_CLIENT} ModelStreamInfer streams open" in (
        err.value.details()
    )
    extra_feed.put(None)
    unary = channel.unary_unary(f"/{kserve_pb.SERVICE}/ModelInfer")
    assert kserve_pb.ModelInferResponse.FromString(unary(request, timeout=10)).outputs
    call, feed = opened.pop()
    feed.put(None)
    assert list(call) == [] and call.code() == grpc.StatusCode.OK
    again, again_feed = _raw_stream(channel, request)  # a closed stream frees its place
    assert kserve_pb.ModelStreamInferResponse.FromString(next(again)).infer_response.outputs
    for _, f in [*opened, (again, again_feed)]:
        f.put(None)
    channel.close()


@pytest.mark.parametrize("size", [0, 1, 127, 128, 300, 16383, 16384, 1 << 21])
def test_stream_response_bytes_are_what_protobuf_writes(size):
    inner = kserve_pb.ModelInferResponse(id="x", raw_output_contents=[b"\x07" * size])
    expected = kserve_pb.ModelStreamInferResponse(infer_response=inner).SerializeToString()
    assert stream_response(inner.SerializeToString()) == expected


def test_stream_calls_from_threads_share_the_batcher(grpc_servers, repo):
    _, target, _, name = grpc_servers
    session = repo.get(name).session
    errors: list = []

    def one_stream(seed):
        client, answers = _stream(target)
        for i in range(8):
            _send(client, name, _z(2, seed * 100 + i), f"{seed}-{i}")
        for i in range(8):
            result, error = answers.get(timeout=30)
            x = _z(2, seed * 100 + i)
            if error is not None or not np.array_equal(
                result.as_numpy("y"), session.run(None, {"z": x})[0]
            ):
                errors.append((seed, i, error))
        client.stop_stream()

    threads = [threading.Thread(target=one_stream, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def _open_answered(channel, request, deadline):
    """A raw stream whose first answer came back; retried while the server is full."""
    while True:
        call, feed = _raw_stream(channel, request)
        try:
            next(call)
            return call, feed
        except grpc.RpcError as e:
            feed.put(None)
            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_cancelled_streams_give_their_places_back(grpc_servers):
    _, target, _, name = grpc_servers
    request = _request_bytes(name)
    channel = grpc.insecure_channel(target)
    deadline = time.monotonic() + 20
    for _ in range(3):  # 3x the cap opened in all: only if every cancelled stream let go
        opened = [_open_answered(channel, request, deadline) for _ in range(MAX_STREAMS_PER_CLIENT)]
        for call, _ in opened:
            call.cancel()
    channel.close()


def test_undecodable_messages_end_only_their_stream(grpc_servers):
    _, target, _, name = grpc_servers
    with grpc.insecure_channel(target) as channel:
        method = channel.stream_stream(f"/{kserve_pb.SERVICE}/ModelStreamInfer")
        for _ in range(MAX_STREAMS_PER_CLIENT + 4):  # more than the cap: none keeps a place
            with pytest.raises(grpc.RpcError) as err:
                list(method(iter([b"\xff\xff\xff"]), timeout=10))
            assert err.value.code() == grpc.StatusCode.INTERNAL
        answers = list(method(iter([_request_bytes(name)] * 3), timeout=10))
    assert len(answers) == 3
    assert all(
        kserve_pb.ModelStreamInferResponse.FromString(a).infer_response.outputs for a in answers
    )
