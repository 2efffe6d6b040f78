"""How many HTTP requests this process has read the headers of and not yet answered (kept by
`httpguard`'s protocol; 0 under servers without it). The event loop runs a short model run
inline only when this is at most 1: a lone request then skips the hop to a thread, while under
concurrency the runs go to the batcher's thread, the loop keeps reading requests meanwhile,
and those that arrive during a run are merged."""

from __future__ import annotations


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


HTTP = _Counter()


def alone() -> bool:
    """At most one HTTP request in flight in this process."""
    return HTTP.value <= 1
