"""Serve ONNX models over the Open Inference Protocol (KServe v2) with onnxruntime.

`repository` finds models (one .onnx, a directory of them, or a Triton model repository),
`protocol` parses and validates requests (JSON and the binary tensor extension) and encodes
responses, `batcher` merges concurrent requests, `metrics` keeps Prometheus counters, `app`
ties them into an ASGI app (Starlette, with a fast path for inference) that `triptych serve`
runs under uvicorn, and `grpc_server` serves the same over gRPC (grpcio's threaded server).
"""
