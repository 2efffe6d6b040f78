"""The one error type the server turns into ``{"error": msg}`` with a status code."""

from __future__ import annotations


class ServeError(Exception):
    """A request fault (400/404/413) or a runtime failure (500); ``str`` is the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
