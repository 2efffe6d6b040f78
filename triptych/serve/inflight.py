"""How many HTTP requests this process has read the headers of and not yet answered (kept by
`httpguard`'s protocol; 0 under servers without it). A lone short run (this is at most 1)
runs on the event loop at once; under concurrency short runs are merged on the loop at the
next iteration instead (`batcher.Batcher.submit`)."""

from __future__ import annotations


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


HTTP = _Counter()


def alone() -> bool:
    """At most one HTTP request in flight in this process."""
    return HTTP.value <= 1
