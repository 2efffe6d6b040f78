"""Ctrl-C that cannot be lost: the CLI's SIGINT handler raises KeyboardInterrupt and also
sets `REQUESTED`; long work calls `check` at safe points.

A KeyboardInterrupt raised by a signal handler while the interpreter runs a callback whose
exceptions it ignores (a garbage-collector callback such as JAX's ``_xla_gc_callback``, a
``__del__``, a weakref callback) is printed as "Exception ignored" and lost, and the work
goes on (seen: the tour then finished and left its report behind after Ctrl-C). `check`
raises it again at the next safe point."""

from __future__ import annotations

import threading

REQUESTED = threading.Event()


def check() -> None:
    """Raise KeyboardInterrupt when an interrupt was requested (a no-op otherwise)."""
    if REQUESTED.is_set():
        raise KeyboardInterrupt
