"""Models exported once per session for the serving tests, and servers over them."""

from __future__ import annotations

import pytest

import triptych
from triptych.serve.app import ServeConfig, create_app
from triptych.serve.grpc_server import create_grpc_server
from triptych.serve.repository import Repository
from triptych.serve.server import free_port, serving


@pytest.fixture(scope="session")
def onnx_root(tmp_path_factory):
    """(directory with the GAN generator and the conv autoencoder, framework)."""
    fw = triptych.frameworks()[0]
    root = tmp_path_factory.mktemp("models")
    exporter = "torchscript" if fw == "torch" else None
    triptych.create("gan", framework=fw, seed=1).export_onnx(
        root, networks=["generator"], exporter=exporter
    )
    triptych.create("conv_autoencoder", framework=fw, seed=1).export_onnx(root, exporter=exporter)
    return root, fw


@pytest.fixture(scope="session")
def repo(onnx_root):
    return Repository.from_path(onnx_root[0])


@pytest.fixture(scope="module")
def big_server(repo, onnx_root):
    """A server with the default 64 MiB body limit: (url, app, generator model name)."""
    app = create_app(repo, ServeConfig(max_batch=64))
    with serving(app) as url:
        yield url, app, f"gan.generator.{onnx_root[1]}"


@pytest.fixture(scope="module")
def grpc_servers(repo, onnx_root):
    """HTTP and gRPC over one app: (http "host:port", grpc "host:port", app, generator name)."""
    app = create_app(repo, ServeConfig(max_batch=64, max_delay_ms=20))
    port = free_port()
    factory = lambda: create_grpc_server(app.state.core, "127.0.0.1", port)  # noqa: E731
    with serving(app, grpc_factory=factory) as url:
        yield url, f"127.0.0.1:{port}", app, f"gan.generator.{onnx_root[1]}"
