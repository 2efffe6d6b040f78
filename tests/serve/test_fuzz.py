"""Property-based fuzzing of the request parser (hypothesis): random JSON structures, bodies
and headers never produce a 500 and never crash the server.

In-process: `parse_request` either returns an `InferRequest` or raises `ServeError` with a 4xx
status, for PARSER_EXAMPLES requests. Over a socket: SOCKET_EXAMPLES requests get 200 or a
4xx ``{"error": msg}`` and the server stays live.
"""

import http.client
import json
import socket

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.errors import ServeError
from triptych.serve.protocol import parse_request, split_body
from triptych.serve.server import serving

# No subnormals: once a torch model is built in this process, its main thread flushes
# denormals to zero (triptych/frameworks/torch/runtime.py), and hypothesis refuses to draw
# subnormal floats then; whether that happened first depends on the order tests run in.
FLOATS = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False)

PARSER_EXAMPLES = 1500
SOCKET_EXAMPLES = 1000

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | FLOATS
    | st.text(max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=24,
)


def _maybe(valid, size: int = 3):
    """Mostly plausible values, sometimes anything."""
    return st.one_of(valid, json_values) if size else valid


dims = st.lists(
    st.one_of(st.integers(-2, 70), st.sampled_from([10**400, 2**63, 1 << 40])), max_size=4
)
shapes = _maybe(st.one_of(st.just([1, 32]), st.just([2, 32]), dims))
datatypes = _maybe(st.sampled_from(["FP32", "FP64", "INT64", "BOOL", "BYTES", "fp32"]))
numbers = st.one_of(FLOATS, st.integers(-(2**70), 2**70), st.booleans())
datas = st.one_of(
    st.lists(numbers, min_size=32, max_size=32),
    st.lists(numbers, max_size=70),
    st.lists(st.lists(numbers, min_size=32, max_size=32), min_size=1, max_size=2),
    json_values,
)
params = _maybe(
    st.fixed_dictionaries(
        {},
        optional={
            "binary_data_size": _maybe(st.integers(-1, 300)),
            "binary_data": _maybe(st.booleans()),
            "binary_data_output": _maybe(st.booleans()),
        },
    )
)
input_specs = st.fixed_dictionaries(
    {},
    optional={
        "name": _maybe(st.sampled_from(["z", "x", ""])),
        "shape": shapes,
        "datatype": datatypes,
        "data": datas,
        "parameters": params,
    },
)
output_specs = _maybe(
    st.fixed_dictionaries(
        {}, optional={"name": _maybe(st.sampled_from(["y", "z"])), "parameters": params}
    )
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "id": _maybe(st.text(max_size=5)),
        "inputs": _maybe(st.lists(_maybe(input_specs), max_size=3)),
        "outputs": _maybe(st.lists(output_specs, max_size=3)),
        "parameters": params,
    },
)
header_lengths = st.one_of(
    st.none(),
    st.integers(-5, 5000).map(str),
    st.text(max_size=6),
    st.sampled_from(["²", "١٢", "9" * 400, " 12 ", "0x10"]),
)
bodies = st.tuples(documents, st.binary(max_size=300), header_lengths)


def _encode(doc, blob: bytes, header_length: str | None) -> tuple[bytes, str | None]:
    head = json.dumps(doc).encode()
    if header_length == "exact":
        header_length = str(len(head))
    return head + (blob if header_length is not None else b""), header_length


@pytest.fixture(scope="module")
def generator(repo, onnx_root):
    return repo.get(f"gan.generator.{onnx_root[1]}")


@settings(
    max_examples=PARSER_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    case=st.one_of(
        bodies,
        st.tuples(documents, st.binary(max_size=300), st.just("exact")),
        st.tuples(st.binary(max_size=200), st.just(b""), header_lengths),
    )
)
def test_parser_never_fails_with_anything_but_a_4xx(generator, case):
    doc, blob, header_length = case
    body, header_length = (
        (doc + blob, header_length) if isinstance(doc, bytes) else _encode(doc, blob, header_length)
    )
    try:
        header, binary = split_body(bytearray(body), header_length, 8 << 20)
        request = parse_request(header, binary, generator, 64)
    except ServeError as e:
        assert 400 <= e.status < 500 and str(e)
        return
    assert set(request.inputs) == {"z"}
    z = request.inputs["z"]
    assert z.dtype == np.float32 and z.shape[1:] == (32,) and z.shape[0] <= 64


@pytest.fixture(scope="module")
def fuzz_server(repo, onnx_root):
    app = create_app(repo, ServeConfig(max_batch=64, max_body=1 << 20))
    with serving(app) as url:
        host, port = url.split(":")
        yield host, int(port), f"gan.generator.{onnx_root[1]}"


@settings(
    max_examples=SOCKET_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=bodies, path=st.sampled_from(["infer", "versions/1/infer", "versions/x/infer"]))
def test_server_answers_random_requests_with_200_or_a_json_4xx(fuzz_server, case, path):
    host, port, name = fuzz_server
    body, header_length = _encode(*case)
    head = (
        f"POST /v2/models/{name}/{path} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    ).encode()
    if header_length is not None:  # raw UTF-8 bytes; CR/LF would only split the header
        value = header_length.replace("\r", "").replace("\n", "").encode()
        head += b"Inference-Header-Content-Length: " + value + b"\r\n"
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head + b"\r\n" + body)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        data = resp.read()
    assert resp.status == 200 or 400 <= resp.status < 500, data[:300]
    if resp.status != 200:
        assert json.loads(data)["error"]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/v2/health/live")
    assert conn.getresponse().status == 200
    conn.close()
