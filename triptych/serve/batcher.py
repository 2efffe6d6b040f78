"""Dynamic batching the Triton way, shared by the HTTP event loop and the gRPC server's
threads.

A request that finds the model idle runs at once: on the calling thread (a gRPC handler
thread; the event loop itself when the run is short, see `runs_inline`), or, from the event
loop, on the model's runner thread. Requests that arrive while the model is busy wait in a
queue (event-loop requests as asyncio futures, holding no thread). When a run ends and
requests are waiting, the runner thread (Triton's model instance thread) takes, in arrival
order, the queued requests that fit beside the oldest (up to ``max_batch`` rows, same dims
after the batch axis), runs them merged along the batch axis and hands every caller its rows.

Short runs never leave the event loop: under concurrency, the short requests submitted in one
loop iteration are merged the same way and run at the start of the next iteration, on the
loop's thread (`Batcher._drain_loop`). Handing a ~50 us run to the runner thread and its answer
back costs more CPU than the run (a futex wake each way, the GIL passed twice, a self-pipe
write to wake the loop): on the GAN generator at batch 1 under LoadGen, 16 requests in flight,
server CPU per request fell from 233 to 179 us (binary) and from 298 to 214 us (JSON).

``instances`` (default 1) is Triton's instance_group count: how many runs of the model may be
in progress at once, each instance running alone what finds it idle and merging what waits.

``max_delay`` (seconds, default 0) is Triton's ``max_queue_delay``: when a queued batch is
about to run with fewer than ``max_batch`` rows, the runner waits at most this long for more.
It never delays a request that finds the model idle with an empty queue.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque
from typing import Any

import numpy as np

from triptych.serve import inflight
from triptych.serve.repository import ServedModel

Feeds = dict[str, np.ndarray]
INLINE_S = 0.0005  # runs expected to take less than this (seconds) may run on the event loop
LOOP_MERGE_S = 0.002  # estimated seconds of one merged run on the event loop, at most


def run_session(model: ServedModel, feeds: Feeds) -> Feeds:
    """One onnxruntime run (thread-safe, releases the GIL): output name -> array."""
    names = model.output_names
    return dict(zip(names, model.session.run(names, feeds), strict=True))


def _shape_key(feeds: Feeds) -> list[tuple[str, tuple[int, ...]]]:
    """Input names and dims after the batch axis: requests merge only when these agree."""
    return [(n, a.shape[1:]) for n, a in feeds.items()]


def _rows(feeds: Feeds) -> int:
    return next(iter(feeds.values())).shape[0]


def runs_inline(model: ServedModel, rows: int) -> bool:
    """Whether a run of ``rows`` rows is short enough (by the batch-1 time measured at load,
    times ``rows``) to run on the event loop instead of hopping to a thread."""
    return model.run_s is not None and model.run_s * max(rows, 1) < INLINE_S


def _deliver(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the client went away (cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Pending:
    """A queued request: its feeds and how to hand it its result (an asyncio future on
    ``loop``, or a threading event for a blocked thread)."""

    __slots__ = ("alone", "done", "error", "feeds", "future", "key", "loop", "result", "rows")

    def __init__(self, feeds: Feeds, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.feeds = feeds
        self.rows = _rows(feeds)
        self.key = _shape_key(feeds)
        self.loop = loop
        self.future: asyncio.Future | None = loop.create_future() if loop else None
        self.done = None if loop else threading.Event()
        self.result: Feeds | None = None
        self.error: BaseException | None = None
        self.alone = False  # found the model idle: runs at once, by itself

    def finish(self, result: Feeds | None, error: BaseException | None, on_loop: bool) -> None:
        if self.future is not None and self.loop is not None:
            if on_loop:
                _deliver(self.future, result, error)
            else:
                self.loop.call_soon_threadsafe(_deliver, self.future, result, error)
            return
        self.result, self.error = result, error
        assert self.done is not None
        self.done.set()


class Batcher:
    """One per served model version; thread-safe. ``inline``: short runs stay on the event
    loop (`submit`); off, every event-loop request goes through the runner threads.
    ``instances``: runs in progress at once (one runner thread each)."""

    def __init__(
        self,
        model: ServedModel,
        max_batch: int,
        max_delay: float = 0.0,
        inline: bool = True,
        instances: int = 1,
    ) -> None:
        self.model, self.max_batch, self.max_delay = model, max_batch, max_delay
        self.inline = inline
        self.instances = instances
        self.cond = threading.Condition(threading.Lock())
        self.queue: deque[_Pending] = deque()
        self.queued_rows = 0
        self.free = instances  # instances neither running nor handed to a runner thread
        self.grants = 0  # instances handed to the runner threads, not yet picked up
        #: short requests waiting on the event loop: (feeds, rows, future), see `_drain_loop`
        self.loop_queue: list[tuple[Feeds, int, asyncio.Future]] = []
        self.runners: list[threading.Thread] = []
        self.closed = False  # `close`d: runner threads end once idle
        #: rows per run -> number of runs (the merged batch sizes, for tests and metrics)
        self.batch_rows: Counter[int] = Counter()
        #: requests per run -> number of runs
        self.batch_requests: Counter[int] = Counter()

    @property
    def batches_run(self) -> int:
        return sum(self.batch_requests.values())

    def totals(self) -> tuple[int, int, int]:
        """(runs, requests, rows) since the batcher was made."""
        runs = dict(self.batch_requests)  # copies: a runner thread may count meanwhile
        rows = dict(self.batch_rows)
        return (
            sum(runs.values()),
            sum(n * c for n, c in runs.items()),
            sum(n * c for n, c in rows.items()),
        )

    async def submit(self, feeds: Feeds) -> Feeds:
        """The model's outputs for ``feeds`` from the event loop. A short run
        (`runs_inline`) stays on the loop: at once when it is the only HTTP request in
        flight, else merged with the short runs submitted in the same loop iteration and run
        at the start of the next (`_drain_loop`). A longer one runs at once on the runner
        thread when the model is idle, else merged with the others that wait."""
        rows = _rows(feeds)
        if self.inline and runs_inline(self.model, rows):
            if inflight.alone() and not self.loop_queue:
                results = run_session(self.model, feeds)
                self._count(rows, 1)
                return results
            future = asyncio.get_running_loop().create_future()
            if not self.loop_queue:
                future.get_loop().call_soon(self._drain_loop)
            self.loop_queue.append((feeds, rows, future))
            return await future
        with self.cond:
            pending = self._enqueue(_Pending(feeds, asyncio.get_running_loop()))
            if self.free:  # an idle instance: a runner runs it at once, alone
                self.free -= 1
                pending.alone = True
                self._grant()
        assert pending.future is not None
        return await pending.future

    def _drain_loop(self) -> None:
        """Run the short requests queued on the loop (`submit`), merged in arrival order up
        to ``max_batch`` rows and `LOOP_MERGE_S` of estimated run time per run, each run
        followed by the next iteration of the loop (so the loop reads sockets in between)."""
        loop = self.loop_queue[0][2].get_loop()
        waiting = [item for item in self.loop_queue if not item[2].cancelled()]
        self.loop_queue = []
        if not waiting:
            return
        key = _shape_key(waiting[0][0])
        cap = min(self.max_batch, max(1, int(LOOP_MERGE_S / max(self.model.run_s or 0, 1e-9))))
        batch, total = [], 0
        for item in waiting:
            feeds, rows, _ = item
            if not batch or (total + rows <= cap and _shape_key(feeds) == key):
                batch.append(item)
                total += rows
            else:
                self.loop_queue.append(item)
        if self.loop_queue:
            loop.call_soon(self._drain_loop)
        merged = (
            batch[0][0]
            if len(batch) == 1
            else {n: np.concatenate([b[0][n] for b in batch]) for n in batch[0][0]}
        )
        try:
            results = run_session(self.model, merged)
        except Exception as e:  # every waiting request gets the runtime failure
            for _, _, future in batch:
                _deliver(future, None, e)
            return
        self._count(total, len(batch))
        start = 0
        for _, rows, future in batch:
            _deliver(future, {k: v[start : start + rows] for k, v in results.items()}, None)
            start += rows

    def run(self, feeds: Feeds) -> Feeds:
        """The model's outputs for ``feeds`` from a thread that may block (a gRPC handler):
        run on it at once when an instance is idle, else merged with the others that wait."""
        with self.cond:
            if self.free:
                self.free -= 1
                pending = None
            else:
                pending = self._enqueue(_Pending(feeds))
        if pending is None:
            return self._run_alone(feeds)
        assert pending.done is not None
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def _enqueue(self, pending: _Pending) -> _Pending:
        """Queue ``pending`` (caller holds the lock)."""
        self.queue.append(pending)
        self.queued_rows += pending.rows
        if self.queued_rows >= self.max_batch:
            self.cond.notify_all()  # a runner waiting out max_delay can go
        return pending

    def _run_alone(self, feeds: Feeds) -> Feeds:
        try:
            results = run_session(self.model, feeds)
            self._count(_rows(feeds), 1)
            return results
        finally:
            self._release()

    def _release(self) -> None:
        """An instance's run is over: it goes on with the queue (on a runner thread) when
        requests wait, else it is idle again."""
        with self.cond:
            if self.queue:
                self._grant()
            else:
                self.free += 1

    def _grant(self) -> None:
        """Hand an instance to the runner threads (caller holds the lock; started at first
        use, one per instance)."""
        self.grants += 1
        if not self.runners:  # (again after a `close`: a late request still gets its run)
            for i in range(self.instances):
                name = f"batcher-{self.model.name}-{self.model.version}-{i}"
                self.runners.append(threading.Thread(target=self._runner, name=name, daemon=True))
                self.runners[-1].start()
        self.cond.notify_all()  # notify_all: a runner may be waiting out max_delay instead

    def close(self) -> None:
        """The model version was unloaded or replaced: runner threads end once nothing is
        queued (what is queued is still answered; a late request starts them again)."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _runner(self) -> None:
        while True:
            with self.cond:
                while not self.grants:
                    if self.closed:
                        self.runners.remove(threading.current_thread())
                        return
                    self.cond.wait()
                self.grants -= 1
                if not self.queue:  # another instance took what was waiting
                    self.free += 1
                    continue
                batch = self._take()
            answers = self._run(batch)
            # handed out only after the instance is released: a caller that sends its next
            # request as soon as it has its answer must find it idle (and run at once), not
            # busy with a run that is over
            self._release()
            for pending, result, error in answers:
                pending.finish(result, error, on_loop=False)

    def _count(self, rows: int, requests: int) -> None:
        self.batch_rows[rows] += 1
        self.batch_requests[requests] += 1

    def _take(self) -> list[_Pending]:
        """The oldest request plus, in arrival order, those that fit beside it: up to
        ``max_batch`` rows with the same dims after the batch axis (caller holds the lock;
        waits up to ``max_delay`` for a full batch). A request that found the model idle runs
        alone, at once."""
        if self.queue[0].alone:
            first = self.queue.popleft()
            self.queued_rows -= first.rows
            return [first]
        if self.max_delay > 0 and self.queued_rows < self.max_batch:
            deadline = time.monotonic() + self.max_delay
            while self.queued_rows < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            if not self.queue:  # another instance took them meanwhile
                return []
        first = self.queue.popleft()
        batch, rows, keep = [first], first.rows, deque()
        while self.queue:
            item = self.queue.popleft()
            if rows + item.rows <= self.max_batch and item.key == first.key:
                batch.append(item)
                rows += item.rows
            else:
                keep.append(item)
        self.queue = keep
        self.queued_rows -= rows
        return batch

    def _run(self, batch: list[_Pending]) -> list[tuple[_Pending, Feeds | None, Any]]:
        """Run ``batch`` merged on this (runner) thread; (request, its rows, error) for each
        request still waiting, to hand out once the model is marked idle."""
        batch = [p for p in batch if p.future is None or not p.future.cancelled()]
        if not batch:  # every client went away
            return []
        merged: Any = (
            batch[0].feeds
            if len(batch) == 1
            else {n: np.concatenate([p.feeds[n] for p in batch]) for n in batch[0].feeds}
        )
        try:
            results = run_session(self.model, merged)
        except Exception as e:  # every waiting request gets the runtime failure
            return [(p, None, e) for p in batch]
        self._count(sum(p.rows for p in batch), len(batch))
        answers: list[tuple[_Pending, Feeds | None, Any]] = []
        start = 0
        for p in batch:
            answers.append((p, {k: v[start : start + p.rows] for k, v in results.items()}, None))
            start += p.rows
        return answers
