"""Idle ModelStreamInfer streams cannot lock other clients out: 20 idle tritonclient streams
(more than the server's places) and a new stream client is still served; a stream idle for
the idle timeout is closed; streams closed for idleness end with UNAVAILABLE and the reason."""

import queue
import time

import numpy as np
import pytest

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.grpc_server import EVICT_AFTER_S, MAX_STREAMS, create_grpc_server
from triptych.serve.server import free_port, serving

grpcclient = pytest.importorskip("tritonclient.grpc")
InferenceServerException = pytest.importorskip("tritonclient.utils").InferenceServerException


@pytest.fixture(scope="module")
def stream_server(repo, onnx_root):
    """(gRPC target, generator name, servicer) with a 2 s stream idle timeout."""
    app = create_app(repo, ServeConfig(max_batch=64, stream_idle_s=2.0))
    port = free_port()
    made = []

    def factory():
        made.append(create_grpc_server(app.state.core, "127.0.0.1", port))
        return made[-1]

    with serving(app, grpc_factory=factory):
        yield f"127.0.0.1:{port}", f"gan.generator.{onnx_root[1]}", made[0].servicer


def _client(target):
    """A tritonclient with an open stream on a connection of its own (grpcio shares one
    between the channels of a process unless told not to): (client, queue of (result,
    error))."""
    client = grpcclient.InferenceServerClient(
        target, channel_args=[("grpc.use_local_subchannel_pool", 1)]
    )
    answers: queue.SimpleQueue = queue.SimpleQueue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    return client, answers


def _ask(client, answers, name, timeout=10):
    """(result, error) of one request on the client's stream; a stream the server refused
    at its start may raise at once instead: that comes back as the error."""
    inp = grpcclient.InferInput("z", [1, 32], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 32), np.float32))
    try:
        client.async_stream_infer(name, [inp])
    except InferenceServerException as e:
        return None, e
    return answers.get(timeout=timeout)


def test_twenty_idle_streams_do_not_lock_out_a_new_stream_client(stream_server):
    target, name, servicer = stream_server
    idle = []
    for _ in range(20):  # each its own client (channel, connection), answered once, then idle
        client, answers = _client(target)
        result, error = _ask(client, answers, name)
        idle.append((client, answers, error))
    served = [e for _, _, e in idle if e is None]
    assert len(served) >= MAX_STREAMS  # the first ones took every place...
    assert len(servicer.streams) == MAX_STREAMS
    time.sleep(EVICT_AFTER_S + 0.2)  # ...and have been idle long enough to give one up
    t0 = time.monotonic()
    client, answers = _client(target)
    result, error = _ask(client, answers, name)
    assert error is None and result.as_numpy("y").shape[0] == 1
    assert time.monotonic() - t0 < 5.0
    client.stop_stream()
    client.close()
    for c, _, _ in idle:
        c.stop_stream()
        c.close()


def test_an_idle_stream_is_closed_with_the_reason(stream_server):
    target, name, servicer = stream_server
    deadline = time.monotonic() + 10
    while len(servicer.streams) and time.monotonic() < deadline:  # the last test's streams
        time.sleep(0.05)
    client, answers = _client(target)
    _, error = _ask(client, answers, name)
    assert error is None
    t0 = time.monotonic()
    _, error = answers.get(timeout=10)  # nothing sent: the server closes it after 2 s
    assert 1.5 < time.monotonic() - t0 < 6.0
    assert "UNAVAILABLE" in str(error.status()) and "idle for 2 s" in error.message()
    assert len(servicer.streams) == 0
    client.stop_stream()
    client.close()
