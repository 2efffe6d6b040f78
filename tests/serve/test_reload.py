"""Hot reload: the repository API (``POST /v2/repository/models/NAME/load`` and ``/unload``)
swaps a model version without failing a request in flight, a load that fails keeps the
served version, and polling picks up a changed, a new and a removed model folder."""

import json
import threading
import time

from serve_wire import error_of, raw
from tiny_models import scale_model

from triptych.serve.app import ServeConfig, create_app
from triptych.serve.repository import Repository
from triptych.serve.server import serving
from triptych.serve.triton import write_triton_repo

BODY = json.dumps(
    {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 1, 1, 1]}]}
).encode()


def _export(tmp_path, repo, name, factor):
    """Export a ``y = x * factor`` model into the Triton repository ``repo`` (atomically)."""
    src = scale_model(tmp_path / f"{name}-{factor}.onnx", factor)
    write_triton_repo({name: src}, repo)


def _answer(url, name="scale"):
    status, body = raw(url, "POST", f"/v2/models/{name}/infer", BODY, timeout=10)
    return status, (json.loads(body)["outputs"][0]["data"][0] if status == 200 else body)


def test_load_swaps_the_version_without_failing_requests_in_flight(tmp_path):
    repo = tmp_path / "repo"
    _export(tmp_path, repo, "scale", 2.0)
    with serving(create_app(Repository.from_path(repo))) as url:
        assert _answer(url) == (200, 2.0)
        answers, stop = [], threading.Event()

        def load():
            while not stop.is_set():
                answers.append(_answer(url))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        for factor in (3.0, 4.0, 5.0):  # three swaps under load
            _export(tmp_path, repo, "scale", factor)
            status, body = raw(url, "POST", "/v2/repository/models/scale/load", b"")
            assert status == 200, body
            assert _answer(url) == (200, factor)  # every request after the swap: the new one
        stop.set()
        for t in threads:
            t.join(30)
    assert len(answers) > 20
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:3]
    assert {v for _, v in answers} <= {2.0, 3.0, 4.0, 5.0}


def test_unload_load_and_index(tmp_path):
    repo = tmp_path / "repo"
    _export(tmp_path, repo, "scale", 2.0)
    _export(tmp_path, repo, "other", 7.0)
    with serving(create_app(Repository.from_path(repo))) as url:
        assert raw(url, "POST", "/v2/repository/models/scale/unload", b"")[0] == 200
        status, body = _answer(url)
        assert status == 404 and "unknown model 'scale'" in error_of(body)
        assert _answer(url, "other") == (200, 7.0)
        status, body = raw(url, "POST", "/v2/repository/index", b"")
        assert json.loads(body) == [{"name": "other", "version": "1", "state": "READY"}]
        assert raw(url, "POST", "/v2/repository/models/scale/load", b"")[0] == 200
        assert _answer(url) == (200, 2.0)
        status, body = raw(url, "POST", "/v2/repository/models/nothere/load", b"")
        assert status == 404 and "no model 'nothere'" in error_of(body)


def test_a_load_that_fails_keeps_the_served_version(tmp_path):
    repo = tmp_path / "repo"
    _export(tmp_path, repo, "scale", 2.0)
    with serving(create_app(Repository.from_path(repo))) as url:
        (repo / "scale" / "1" / "model.onnx").write_bytes(b"garbage")  # not via an export
        status, body = raw(url, "POST", "/v2/repository/models/scale/load", b"")
        assert status == 400 and "model 'scale' failed to load" in error_of(body)
        assert _answer(url) == (200, 2.0)


def test_the_repository_api_is_refused_under_workers(tmp_path):
    repo = tmp_path / "repo"
    _export(tmp_path, repo, "scale", 2.0)
    app = create_app(Repository.from_path(repo), ServeConfig(repository_api=False))
    with serving(app) as url:
        status, body = raw(url, "POST", "/v2/repository/models/scale/load", b"")
    assert status == 400 and "--poll" in error_of(body)


def _until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not within the poll bound"
        time.sleep(0.05)


def test_polling_reloads_changed_new_and_removed_model_folders(tmp_path):
    repo = tmp_path / "repo"
    _export(tmp_path, repo, "scale", 2.0)
    app = create_app(Repository.from_path(repo))
    app.state.core.reloader.start_polling(0.1)
    try:
        with serving(app) as url:
            _export(tmp_path, repo, "scale", 3.0)
            _until(lambda: _answer(url) == (200, 3.0))
            _export(tmp_path, repo, "added", 6.0)
            _until(lambda: _answer(url, "added") == (200, 6.0))
            (repo / "added" / "1" / "model.onnx").unlink()
            _until(lambda: _answer(url, "added")[0] == 404)
            assert _answer(url) == (200, 3.0)
    finally:
        app.state.core.reloader.stop.set()
