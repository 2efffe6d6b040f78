"""The terminal console: rich, 140 columns when output is not a terminal (logs, CI, pipes)."""

from __future__ import annotations

import sys

from rich.console import Console

PIPE_WIDTH = 140


def console() -> Console:
    """A rich Console sized to the terminal, or `PIPE_WIDTH` columns when piped."""
    return Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
