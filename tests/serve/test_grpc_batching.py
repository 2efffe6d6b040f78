"""Where a gRPC request runs: a short run (under `batcher.INLINE_S` as measured at load) on
its own handler thread at once, never through the batcher; a long one through the dynamic
batcher, where requests that arrive while the model is busy are merged."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np

from triptych.serve import kserve_pb
from triptych.serve.app import ServeConfig, create_app
from triptych.serve.grpc_server import create_grpc_server
from triptych.serve.repository import Repository, ServedModel, TensorMeta
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


def _run(run_s: float | None) -> tuple[SlowDouble, object]:
    """8 concurrent gRPC requests to a model whose measured batch-1 time is ``run_s``."""
    session = SlowDouble()
    model = ServedModel(
        "slow",
        "1",
        Path("slow.onnx"),
        session,
        [TensorMeta("x", "FP32", [-1, 4])],
        [TensorMeta("y", "FP32", [-1, 4])],
        run_s=run_s,
    )
    app = create_app(Repository({"slow": {"1": model}}), ServeConfig())
    port = free_port()
    factory = lambda: create_grpc_server(app.state.core, "127.0.0.1", port)  # noqa: E731
    xs = [np.full((1, 4), i, np.float32) for i in range(8)]
    with serving(app, grpc_factory=factory), ThreadPoolExecutor(8) as pool:
        ys = list(pool.map(lambda x: _infer(f"127.0.0.1:{port}", x), xs))
    for x, y in zip(xs, ys, strict=True):
        np.testing.assert_array_equal(y, 2 * x)
    return session, app.state.batchers[("slow", "1")]


def test_a_short_run_runs_on_the_grpc_handler_thread():
    session, batcher = _run(run_s=1e-6)
    assert len(session.threads) == 8 and all(t.startswith("grpc") for t in session.threads)
    assert batcher.batches_run == 0


def test_long_runs_go_through_the_batcher_and_merge():
    session, batcher = _run(run_s=None)
    assert len(session.threads) == batcher.batches_run  # every run was a batcher run
    assert batcher.batches_run < 8  # those that came while the model was busy were merged
    assert sum(k * v for k, v in batcher.batch_requests.items()) == 8
