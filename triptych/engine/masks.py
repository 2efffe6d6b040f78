"""Exact Dropout's masks for `fit`'s steps, drawn a block of steps at a time, the next block
on a helper thread.

The masks of a step are a pure function of (seed, step, batch size) (`triptych.common.dropout`),
so drawing those of steps s .. s+k-1 together, before step s, gives the numbers drawing each
at its step would, bitwise. It is cheaper: drawing one step's masks between two train steps
costs more than the draw alone (the step and numpy evict each other's caches), and while one
block's steps run the next block is drawn and converted (the step's ``prepare_masks``) on a
helper thread (`triptych.engine.prefetch`), off the steps' path where a core is free.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.common.dropout import dropout_masks, mask_size
from triptych.engine.prefetch import Prefetch

#: network name -> Dropout layer index -> canonical mask (`triptych.common.dropout`)
StepMasks = dict[str, dict[int, np.ndarray]]
#: (seed, first step, batch size, steps)
BlockKey = tuple[int, int, int, int]

#: at most this many steps' masks are drawn together ...
MAX_STEPS = 16
#: ... and at most about this many bytes of them (float32 masks; at least one step)
MAX_BYTES = 2 << 20


def _draw_block(
    networks: dict[str, S.Network],
    prepare: Callable[[StepMasks], Any] | None,
    key: BlockKey,
) -> dict[int, Any]:
    """Step -> its masks (through ``prepare`` where given) for the block ``key``."""
    seed, first, batch, steps = key
    out = {}
    for step in range(first, first + steps):
        masks = {n: dropout_masks(net, batch, seed, step) for n, net in networks.items()}
        out[step] = masks if prepare is None else prepare(masks)
    return out


def _next_block(key: BlockKey) -> BlockKey:
    seed, first, batch, steps = key
    return seed, first + steps, batch, steps


class MasksAhead:
    """``get(seed, step, batch)``: the masks of ``networks`` for that step (through
    ``prepare``, a backend step's ``prepare_masks``, where given), drawn in blocks of
    consecutive steps (at most ``max_steps`` steps and about ``max_bytes`` bytes); with
    ``background``, the next block is drawn on a helper thread meanwhile. Asking for a step
    outside the current and the next block (a resume, another batch size or seed) starts
    a new block there."""

    def __init__(
        self,
        networks: dict[str, S.Network],
        prepare: Callable[[StepMasks], Any] | None = None,
        max_steps: int = MAX_STEPS,
        max_bytes: int = MAX_BYTES,
        background: bool = True,
    ) -> None:
        self.max_steps, self.max_bytes = max(1, int(max_steps)), int(max_bytes)
        #: float32 elements of one sample's masks, over every Dropout layer
        self._per_sample = sum(mask_size(net) for net in networks.values())
        draw = partial(_draw_block, dict(networks), prepare)
        self._draw: Callable[[BlockKey], dict[int, Any]] = draw
        self._prefetch = Prefetch(draw, _next_block) if background else None
        self._block: BlockKey | None = None
        self._ready: dict[int, Any] = {}

    def steps_per_draw(self, batch: int) -> int:
        """How many steps' masks one block holds for a batch of ``batch``."""
        step_bytes = 4 * batch * max(1, self._per_sample)
        return max(1, min(self.max_steps, self.max_bytes // step_bytes))

    def get(self, seed: int, step: int, batch: int) -> Any:
        """The (prepared) masks of ``step`` for a batch of ``batch`` under ``seed``."""
        seed, step, batch = int(seed), int(step), int(batch)
        b = self._block
        if b is None or (b[0], b[2]) != (seed, batch) or step not in self._ready:
            nxt = _next_block(b) if b is not None else None
            if nxt is not None and (nxt[0], nxt[2]) == (seed, batch) and nxt[1] == step:
                key = nxt  # the block after the current one: prefetched
            else:
                key = (seed, step, batch, self.steps_per_draw(batch))
            fetch = self._prefetch.get if self._prefetch is not None else self._draw
            self._block, self._ready = key, fetch(key)
        return self._ready.pop(step)

    def close(self) -> None:
        """End the helper thread, if one started (`get` still works, drawing in place)."""
        if self._prefetch is not None:
            self._prefetch.close()
