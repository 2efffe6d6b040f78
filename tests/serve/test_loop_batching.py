"""Short runs under concurrency stay on the event loop: the requests submitted in one loop
iteration are merged into one onnxruntime run at the start of the next, on the loop's own
thread (no hop to the runner thread and back), split back exactly, capped by rows and by
estimated run time, and never merged across different trailing shapes. A runtime failure
reaches every merged request; a request whose client went away is left out of the run."""

import asyncio
import threading

import numpy as np
import pytest
from served_models import four_wide

from triptych.serve import inflight
from triptych.serve.batcher import LOOP_MERGE_S, Batcher


class Recorder:
    """A stand-in session: y = 2 x at once; records each run's rows and thread."""

    def __init__(self, fail: bool = False) -> None:
        self.rows: list[int] = []
        self.threads: list[str] = []
        self.fail = fail

    def run(self, names, feeds):
        self.rows.append(feeds["x"].shape[0])
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("the graph refused this input")
        return [feeds["x"] * 2]


@pytest.fixture
def busy_server():
    """As if several HTTP requests were in flight (so no request counts as alone)."""
    before = inflight.HTTP.value
    inflight.HTTP.value = 8
    yield
    inflight.HTTP.value = before


def _submit_all(batcher: Batcher, xs: list[np.ndarray]) -> list:
    async def go():
        return await asyncio.gather(*(batcher.submit({"x": x}) for x in xs), return_exceptions=True)

    return asyncio.run(go())


def test_short_runs_under_load_merge_on_the_loop_and_split_exactly(busy_server):
    session = Recorder()
    batcher = Batcher(four_wide("m", session, run_s=1e-5), max_batch=256)
    xs = [np.full((i % 3 + 1, 4), i, np.float32) for i in range(10)]
    outs = _submit_all(batcher, xs)
    for x, out in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(out["y"], 2 * x)
    assert session.rows == [sum(len(x) for x in xs)]  # one merged run
    assert session.threads == [threading.current_thread().name]  # the loop's thread
    assert batcher.batch_requests == {10: 1} and not batcher.runners  # no runner thread


def test_loop_merges_are_capped_by_max_batch_and_estimated_run_time(busy_server):
    session = Recorder()
    batcher = Batcher(four_wide("m", session, run_s=1e-5), max_batch=3)
    _submit_all(batcher, [np.ones((1, 4), np.float32)] * 7)
    assert session.rows == [3, 3, 1]  # max_batch rows per run
    run_s = 0.0004  # a batch-1 run just short enough for the loop
    session = Recorder()
    batcher = Batcher(four_wide("m", session, run_s=run_s), max_batch=256)
    _submit_all(batcher, [np.ones((1, 4), np.float32)] * 12)
    fit = int(LOOP_MERGE_S / run_s)  # rows whose estimated run time fits one merged run
    assert fit == 5 and session.rows == [5, 5, 2]


def test_different_trailing_shapes_run_apart(busy_server):
    session = Recorder()
    model = four_wide("m", session, run_s=1e-5)
    batcher = Batcher(model, max_batch=256)
    xs = [np.ones((1, 4), np.float32), np.ones((1, 5), np.float32), np.ones((2, 4), np.float32)]
    outs = _submit_all(batcher, xs)
    assert session.rows == [3, 1]  # the two 4-wide requests merged, the 5-wide one after
    for x, out in zip(xs, outs, strict=True):
        np.testing.assert_array_equal(out["y"], 2 * x)


def test_a_runtime_failure_reaches_every_merged_request(busy_server):
    batcher = Batcher(four_wide("m", Recorder(fail=True), run_s=1e-5), max_batch=256)
    outs = _submit_all(batcher, [np.ones((1, 4), np.float32)] * 4)
    assert all(isinstance(o, RuntimeError) and "refused" in str(o) for o in outs)


def test_a_cancelled_request_is_left_out_of_the_run(busy_server):
    session = Recorder()
    batcher = Batcher(four_wide("m", session, run_s=1e-5), max_batch=256)

    async def go():
        tasks = [
            asyncio.ensure_future(batcher.submit({"x": np.full((1, 4), i, np.float32)}))
            for i in range(3)
        ]
        await asyncio.sleep(0)  # every task has queued its request
        tasks[1].cancel()  # its client went away before the run
        return await asyncio.gather(*tasks, return_exceptions=True)

    outs = asyncio.run(go())
    assert isinstance(outs[1], asyncio.CancelledError)
    np.testing.assert_array_equal(outs[2]["y"], np.full((1, 4), 4, np.float32))
    assert session.rows == [2]
