"""`read_body` on a scripted ASGI receive channel: the bytes come back exactly as sent,
however they were split, and the limit holds whether or not a length was declared."""

import asyncio

import pytest

from triptych.serve.body import read_body
from triptych.serve.errors import ServeError


def _receive(pieces: list[bytes]):
    messages = [
        {"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
        for i, p in enumerate(pieces)
    ]

    async def receive():
        return messages.pop(0)

    return receive


def _read(pieces: list[bytes], declared: int | None, limit: int = 1 << 20) -> bytearray:
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    return asyncio.run(read_body(_receive(pieces), headers, limit, timeout=5.0))


PIECES = [b"abc", b"", b"defgh", b"i" * 1000, b"jk"]
WHOLE = b"".join(PIECES)


@pytest.mark.parametrize(
    "declared",
    [None, len(WHOLE), 4, 0],
    ids=["chunked", "declared", "declared-short", "declared-zero"],
)
def test_body_comes_back_byte_for_byte(declared):
    body = _read(PIECES, declared)
    assert isinstance(body, bytearray) and bytes(body) == WHOLE


def test_chunked_body_over_the_limit_is_refused_naming_the_limit():
    with pytest.raises(ServeError) as err:
        _read([b"x" * 600, b"x" * 600], None, limit=1000)
    assert err.value.status == 413 and "over the limit 1000" in str(err.value)
