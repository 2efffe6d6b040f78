"""Verification, Polygraphy's shape: runners (a native model in a framework, an ORT session
on a file, the ONNX reference evaluator), each with a structured identity and validating its
inputs before it runs; parity levels that generate (runner, runner) pairs; every level, the
training level included, returns the same `Check` objects, which carry their numbers."""
