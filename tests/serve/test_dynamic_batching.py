"""Triton-style dynamic batching over a real socket: an idle model runs a request at once
(no window), requests arriving while it is busy are merged (counted) and split exactly."""

import asyncio
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from served_models import four_wide

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.batcher import Batcher
from triptych.serve.repository import Repository
from triptych.serve.server import serving

httpclient = pytest.importorskip(
    "tritonclient.http", reason="tritonclient not installed (pip install 'triptych[dev]')"
)
RUN_S = 0.05  # the fake model's run time


class SlowDouble:
    """A stand-in onnxruntime session: y = 2 x after RUN_S seconds; records batch sizes and
    the thread of each run."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.threads: list[str] = []  # the thread of each run
        self.lock = threading.Lock()

    def run(self, names, feeds):
        time.sleep(RUN_S)
        with self.lock:
            self.rows.append(feeds["x"].shape[0])
            self.threads.append(threading.current_thread().name)
        return [feeds["x"] * 2]


def _served(max_delay_ms: float = 0.0, run_s: float | None = None):
    session = SlowDouble()
    model = four_wide("slow", session, run_s=run_s)
    app = create_app(Repository({"slow": {"1": model}}), ServeConfig(max_delay_ms=max_delay_ms))
    return app, session


def _call(url: str, x: np.ndarray) -> tuple[np.ndarray, float]:
    client = httpclient.InferenceServerClient(url=url)
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=True)
    t0 = time.perf_counter()
    y = client.infer("slow", [inp]).as_numpy("y")
    return y, time.perf_counter() - t0


@pytest.mark.parametrize("max_delay_ms", [0.0, 500.0])
def test_idle_model_runs_a_request_at_once(max_delay_ms):
    app, session = _served(max_delay_ms)
    with serving(app) as url:
        _call(url, np.ones((1, 4), np.float32))  # warm the connection path
        times = [_call(url, np.full((2, 4), i, np.float32))[1] for i in range(5)]
    assert min(times) < RUN_S + 0.1, times  # no batching window, even with max_delay 500 ms
    assert session.rows == [1] + [2] * 5  # concurrency 1: every request ran alone
    assert app.state.batchers[("slow", "1")].batch_requests == {1: 6}


@pytest.mark.parametrize("batching", [True, False])
def test_a_lone_short_run_stays_on_the_event_loop_a_long_one_leaves_it(batching):
    for run_s, where in ((1e-5, "run_servers"), (None, "batcher-slow-1" if batching else "")):
        session = SlowDouble()
        # run_s: what load_model measured: short runs may stay on the loop
        model = four_wide("slow", session, run_s=run_s)
        app = create_app(Repository({"slow": {"1": model}}), ServeConfig(batching=batching))
        with serving(app) as url:
            for i in range(3):
                y, _ = _call(url, np.full((1, 4), i, np.float32))
                np.testing.assert_array_equal(y, np.full((1, 4), 2 * i, np.float32))
        loop = [n for n in session.threads if "run_servers" in n]  # the serving thread's loop
        if where == "run_servers":
            assert len(loop) == 3, session.threads
        else:  # the batcher's runner thread, or the thread pool without batching
            assert not loop and all(where in n for n in session.threads), session.threads


def test_requests_arriving_while_busy_are_merged_and_split_exactly():
    app, session = _served()
    xs = [np.full((i % 3 + 1, 4), i, np.float32) for i in range(12)]
    with serving(app) as url, ThreadPoolExecutor(12) as pool:
        outs = list(pool.map(lambda x: _call(url, x)[0], xs))
        metrics = urllib.request.urlopen(f"http://{url}/metrics", timeout=10).read().decode()
    for x, y in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(y, x * 2)
    batcher = app.state.batchers[("slow", "1")]
    merged = {n: c for n, c in batcher.batch_requests.items() if n > 1}
    assert merged, batcher.batch_requests  # some runs carried several requests
    assert sum(n * c for n, c in batcher.batch_requests.items()) == 12
    assert batcher.batches_run < 12 and sum(session.rows) == sum(len(x) for x in xs)
    assert max(session.rows) <= 256
    # Prometheus: runs, requests and rows of the batcher (Triton's exec/inference counts)
    label = '{model="slow",version="1"}'
    assert f"triptych_batch_runs_total{label} {batcher.batches_run}\n" in metrics
    assert f"triptych_batch_requests_total{label} 12\n" in metrics
    assert f"triptych_batch_rows_total{label} {sum(len(x) for x in xs)}\n" in metrics


def test_merged_batches_respect_max_batch_and_trailing_shapes():
    app, session = _served()
    model = app.state.repo.get("slow")
    batcher = Batcher(model, max_batch=5)

    async def go():
        feeds = [{"x": np.full((2, 4), i, np.float32)} for i in range(6)]
        return await asyncio.gather(*(batcher.submit(f) for f in feeds))

    outs = asyncio.run(go())
    for i, out in enumerate(outs):
        np.testing.assert_array_equal(out["y"], np.full((2, 4), 2 * i, np.float32))
    assert session.rows[0] == 2 and max(session.rows) <= 5  # alone first, then pairs


class Overlaps(SlowDouble):
    """`SlowDouble` that also records how many runs were in progress at once, at most."""

    def __init__(self) -> None:
        super().__init__()
        self.now = self.most = 0

    def run(self, names, feeds):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return super().run(names, feeds)
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.parametrize("instances", [1, 2])
def test_instances_bound_the_runs_in_progress_and_each_merges(instances):
    session = Overlaps()
    batcher = Batcher(four_wide("slow", session), max_batch=256, instances=instances)
    xs = [np.full((1, 4), i, np.float32) for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        outs = list(pool.map(lambda x: batcher.run({"x": x})["y"], xs))
    for x, y in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(y, 2 * x)
    assert session.most == instances  # as many runs at once as instances, never more
    assert batcher.batches_run < 12  # requests that found every instance busy were merged
    assert batcher.free == instances and batcher.grants == 0  # all idle again
