"""A request that finds the model idle runs at once, with no batching window, however long
``max_delay`` is: from a blocking thread (on that thread), and from an event loop (on the loop
when the run is short, else handed to the runner thread straight away). Checked on the
`Batcher` itself, every request timed, not only the fastest. The runner thread used to hand
out an answer before marking the model idle, so a caller that sent its next request at once
could find it "busy" and wait out the whole window; `LateRunner` makes that race certain."""

import asyncio
import threading
import time

import numpy as np
from served_models import four_wide

from triptych.serve.batcher import Batcher

RUN_S = 0.01  # the fake model's run time (s)
LONE = 16  # requests sent one after the other
MAX_DELAY_S = 1.0  # a batching window far longer than any run


class Recorder:
    """A stand-in onnxruntime session: y = 2 x after RUN_S; records the thread of each run."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def run(self, names, feeds):
        time.sleep(RUN_S)
        self.threads.append(threading.current_thread().name)
        return [feeds["x"] * 2]


class LateRunner(Batcher):
    """A batcher whose runner thread dawdles after each run (as a preempted thread would):
    widens the moment between a run's end and the model being marked idle."""

    def _run(self, batch):
        answers = super()._run(batch)
        time.sleep(0.005)
        return answers


def _batcher(run_s: float | None) -> tuple[Batcher, Recorder]:
    session = Recorder()
    model = four_wide("m", session, run_s=run_s)
    return LateRunner(model, max_batch=64, max_delay=MAX_DELAY_S), session


def test_idle_model_runs_a_blocking_callers_request_at_once_on_its_thread():
    batcher, session = _batcher(run_s=None)
    times = []
    for i in range(4):
        x = np.full((2, 4), i, np.float32)
        t0 = time.perf_counter()
        y = batcher.run({"x": x})["y"]
        times.append(time.perf_counter() - t0)
        np.testing.assert_array_equal(y, 2 * x)
    assert max(times) < RUN_S + 0.2 < MAX_DELAY_S, times  # never waits out the window
    assert session.threads == [threading.current_thread().name] * 4  # on the caller's thread
    assert batcher.batch_requests == {1: 4}


def test_idle_model_runs_an_event_loop_request_at_once():
    for run_s, on_loop in ((None, False), (1e-6, True)):  # a long run, a short one
        batcher, session = _batcher(run_s)

        async def lone_requests(batcher=batcher) -> list[float]:
            times = []
            for i in range(LONE):  # each sent the moment the last one's answer is in
                x = np.full((1, 4), i, np.float32)
                t0 = time.perf_counter()
                y = (await batcher.submit({"x": x}))["y"]
                times.append(time.perf_counter() - t0)
                np.testing.assert_array_equal(y, 2 * x)
            return times

        times = asyncio.run(lone_requests())
        assert max(times) < RUN_S + 0.2 < MAX_DELAY_S, (run_s, times)
        loop_thread = threading.current_thread().name
        if on_loop:  # short and alone: on the loop itself, no hop
            assert session.threads == [loop_thread] * LONE
        else:  # long: handed to the runner thread at once
            assert all(t.startswith("batcher-m-1") for t in session.threads), session.threads
        assert batcher.batch_requests == {1: LONE}
