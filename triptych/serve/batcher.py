"""Dynamic batching: concurrent requests to one model are merged along the batch axis, up
to ``max_batch`` rows or ``max_delay`` seconds after the first request, run once, split."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from triptych.serve.repository import ServedModel


def run_session(model: ServedModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One onnxruntime run (thread-safe, releases the GIL): output name -> array."""
    names = [o.name for o in model.outputs]
    return dict(zip(names, model.session.run(names, feeds), strict=True))


class Batcher:
    def __init__(self, model: ServedModel, max_batch: int, max_delay: float) -> None:
        self.model, self.max_batch, self.max_delay = model, max_batch, max_delay
        self.queue: asyncio.Queue[tuple[dict[str, np.ndarray], asyncio.Future]] = asyncio.Queue()
        self.worker: asyncio.Task | None = None
        self.carry: tuple[dict[str, np.ndarray], asyncio.Future] | None = None
        self.batches_run = 0

    async def submit(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((feeds, future))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._work())
        return await future

    @staticmethod
    def _rows(feeds: dict[str, np.ndarray]) -> int:
        return next(iter(feeds.values())).shape[0]

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = self.carry or await self.queue.get()
            self.carry = None
            batch, rows = [first], self._rows(first[0])
            deadline = loop.time() + self.max_delay
            while rows < self.max_batch:
                wait = deadline - loop.time()
                if wait <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), wait)
                except TimeoutError:
                    break
                if rows + self._rows(item[0]) > self.max_batch:
                    self.carry = item
                    break
                batch.append(item)
                rows += self._rows(item[0])
            await self._run(batch)

    async def _run(self, batch: list[tuple[dict[str, np.ndarray], Any]]) -> None:
        names = list(batch[0][0])
        merged = {n: np.concatenate([feeds[n] for feeds, _ in batch]) for n in names}
        try:
            results = await run_in_threadpool(run_session, self.model, merged)
        except Exception as e:  # every waiting request gets the runtime failure
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            return
        self.batches_run += 1
        start = 0
        for feeds, future in batch:
            n = self._rows(feeds)
            if not future.done():
                future.set_result({k: v[start : start + n] for k, v in results.items()})
            start += n
