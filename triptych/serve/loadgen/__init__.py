"""MLPerf LoadGen against `triptych serve` (HTTP JSON, HTTP binary tensors, gRPC) and against
in-process onnxruntime as the ceiling, in one run: ``python -m triptych.serve.loadgen``.

`paths` holds the lean clients (one persistent connection per worker thread, request bytes
prepared once per sample), `harness` drives LoadGen (Offline, Server, bisection on the
Server QPS), `report` writes benchmarks/loadgen/README.md and results.json.
"""
