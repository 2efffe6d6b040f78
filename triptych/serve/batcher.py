"""Dynamic batching the Triton way: a request that finds the model idle runs at once; requests
that arrive while it is busy wait in a queue and, when it frees, run merged along the batch
axis, up to ``max_batch`` rows per run (the queue is drained in arrival order).

``max_delay`` (seconds, default 0) is Triton's ``max_queue_delay``: when the model frees and
the queued rows are fewer than ``max_batch``, wait at most this long for more before running.
It never delays a request that finds the model idle with an empty queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
from starlette.concurrency import run_in_threadpool

from triptych.serve.repository import ServedModel

Feeds = dict[str, np.ndarray]


def run_session(model: ServedModel, feeds: Feeds) -> Feeds:
    """One onnxruntime run (thread-safe, releases the GIL): output name -> array."""
    names = [o.name for o in model.outputs]
    return dict(zip(names, model.session.run(names, feeds), strict=True))


def _rows(feeds: Feeds) -> int:
    return next(iter(feeds.values())).shape[0]


@dataclass
class _Pending:
    feeds: Feeds
    future: asyncio.Future[Feeds]
    rows: int = field(init=False)

    def __post_init__(self) -> None:
        self.rows = _rows(self.feeds)


class Batcher:
    """One per served model version; lives on the event loop (not thread-safe)."""

    def __init__(self, model: ServedModel, max_batch: int, max_delay: float = 0.0) -> None:
        self.model, self.max_batch, self.max_delay = model, max_batch, max_delay
        self.queue: deque[_Pending] = deque()
        self.busy = False
        self.arrived = asyncio.Event()
        #: rows per run -> number of runs (the merged batch sizes, for tests and metrics)
        self.batch_rows: Counter[int] = Counter()
        #: requests per run -> number of runs
        self.batch_requests: Counter[int] = Counter()

    @property
    def batches_run(self) -> int:
        return sum(self.batch_requests.values())

    async def submit(self, feeds: Feeds) -> Feeds:
        """The model's outputs for ``feeds`` (rows of the batch axis, run alone or merged)."""
        if not self.busy and not self.queue:
            self.busy = True
            try:
                results = await run_in_threadpool(run_session, self.model, feeds)
                self._count(_rows(feeds), 1)
                return results
            finally:
                self._after_run()
        pending = _Pending(feeds, asyncio.get_running_loop().create_future())
        self.queue.append(pending)
        if sum(p.rows for p in self.queue) >= self.max_batch:
            self.arrived.set()
        return await pending.future

    def _count(self, rows: int, requests: int) -> None:
        self.batch_rows[rows] += 1
        self.batch_requests[requests] += 1

    def _after_run(self) -> None:
        if self.queue:
            asyncio.get_running_loop().create_task(self._drain())
        else:
            self.busy = False

    def _take(self) -> list[_Pending]:
        """The oldest request plus, in arrival order, those that fit beside it: up to
        ``max_batch`` rows with the same dims after the batch axis."""
        first = self.queue.popleft()
        key = {n: a.shape[1:] for n, a in first.feeds.items()}
        batch, rows, left = [first], first.rows, deque()
        while self.queue:
            item = self.queue.popleft()
            fits = rows + item.rows <= self.max_batch
            if fits and {n: a.shape[1:] for n, a in item.feeds.items()} == key:
                batch.append(item)
                rows += item.rows
            else:
                left.append(item)
        self.queue.extendleft(reversed(left))
        return batch

    async def _drain(self) -> None:
        """Run queued requests merged until the queue is empty, then mark the model idle."""
        try:
            while self.queue:
                if self.max_delay > 0 and sum(p.rows for p in self.queue) < self.max_batch:
                    self.arrived.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.arrived.wait(), self.max_delay)
                await self._run(self._take())
        finally:
            self.busy = False

    async def _run(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if not p.future.done()]  # cancelled clients are skipped
        if not live:
            return
        names = list(live[0].feeds)
        merged = (
            live[0].feeds
            if len(live) == 1
            else {n: np.concatenate([p.feeds[n] for p in live]) for n in names}
        )
        try:
            results = await run_in_threadpool(run_session, self.model, merged)
        except Exception as e:  # every waiting request gets the runtime failure
            for p in live:
                if not p.future.done():
                    p.future.set_exception(e)
            return
        self._count(sum(p.rows for p in live), len(live))
        start = 0
        for p in live:
            if not p.future.done():
                p.future.set_result({k: v[start : start + p.rows] for k, v in results.items()})
            start += p.rows
