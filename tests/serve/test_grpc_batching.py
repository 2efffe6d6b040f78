"""Where a gRPC request runs: one that finds the model idle on its own handler thread at once
(no hop, no batching window); those that arrive while the model is busy merged by the
dynamic batcher."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
from served_models import four_wide

from triptych.serve import kserve_pb
from triptych.serve.app import ServeConfig, create_app
from triptych.serve.grpc_server import create_grpc_server
from triptych.serve.repository import Repository
from triptych.serve.server import free_port, serving

RUN_S = 0.05  # the fake model's run time (s)


class SlowDouble:
    """A stand-in onnxruntime session: y = 2 x after RUN_S; records the thread of each run."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.lock = threading.Lock()

    def run(self, names, feeds):
        time.sleep(RUN_S)
        with self.lock:
            self.threads.append(threading.current_thread().name)
        return [feeds["x"] * 2]


def _infer(target: str, x: np.ndarray) -> np.ndarray:
    req = kserve_pb.ModelInferRequest(model_name="slow")
    req.inputs.add(name="x", datatype="FP32", shape=list(x.shape))
    req.raw_input_contents.append(x.tobytes())
    with grpc.insecure_channel(target) as channel:
        method = channel.unary_unary(
            f"/{kserve_pb.SERVICE}/ModelInfer",
            request_serializer=kserve_pb.ModelInferRequest.SerializeToString,
            response_deserializer=kserve_pb.ModelInferResponse.FromString,
        )
        resp = method(req, timeout=30)
    return np.frombuffer(resp.raw_output_contents[0], np.float32).reshape(x.shape)


def _served(max_delay_ms: float = 0.0):
    session = SlowDouble()
    model = four_wide("slow", session)
    app = create_app(Repository({"slow": {"1": model}}), ServeConfig(max_delay_ms=max_delay_ms))
    port = free_port()
    factory = lambda: create_grpc_server(app.state.core, "127.0.0.1", port)  # noqa: E731
    return app, session, port, factory


def test_a_request_that_finds_the_model_idle_runs_at_once_on_its_handler_thread():
    app, session, port, factory = _served(max_delay_ms=1000.0)  # a long window, never used
    times = []
    with serving(app, grpc_factory=factory):
        for i in range(4):
            x = np.full((1, 4), i, np.float32)
            t0 = time.perf_counter()
            np.testing.assert_array_equal(_infer(f"127.0.0.1:{port}", x), 2 * x)
            times.append(time.perf_counter() - t0)
    assert max(times) < RUN_S + 0.5, times
    assert all(t.startswith("grpc") for t in session.threads), session.threads
    assert app.state.batchers[("slow", "1")].batch_requests == {1: 4}


def test_requests_that_arrive_while_busy_are_merged():
    app, session, port, factory = _served()
    xs = [np.full((1, 4), i, np.float32) for i in range(8)]
    with serving(app, grpc_factory=factory), ThreadPoolExecutor(8) as pool:
        ys = list(pool.map(lambda x: _infer(f"127.0.0.1:{port}", x), xs))
    for x, y in zip(xs, ys, strict=True):
        np.testing.assert_array_equal(y, 2 * x)
    batcher = app.state.batchers[("slow", "1")]
    assert len(session.threads) == batcher.batches_run < 8  # merged
    assert sum(k * v for k, v in batcher.batch_requests.items()) == 8
