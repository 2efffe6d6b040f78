"""Load, replace and unload models while serving, without failing a request in flight.

A (re)load reads the model's files into new onnxruntime sessions first (the old version
serves meanwhile), then swaps the repository's model table and the batchers in one
assignment each: a request that already holds the old version finishes on it (its session
lives as long as the request holds it), and every request after the swap gets the new one.
A load that fails (a corrupt file, say) changes nothing. Replaced batchers are closed
(`Batcher.close`): their runner threads end once what they queued is answered.

Two ways in: the KServe v2 / Triton repository API (``POST /v2/repository/models/NAME/load``
and ``/unload``, ``POST /v2/repository/index``; `app`), and polling (``poll`` seconds): a
thread compares each model's files (`repository.signature`: inode, size, mtime) with those
it was loaded from and loads what changed or appeared and unloads what disappeared. With
atomic exports (`triton.write_triton_repo` renames a complete model folder in at once) a poll
never sees half a model.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Protocol

from triptych.serve.batcher import Batcher
from triptych.serve.errors import ServeError
from triptych.serve.repository import Repository, ServedModel, signature, sources


class Served(Protocol):
    """What the reloader changes (`app.Core`)."""

    repo: Repository
    batchers: dict[tuple[str, str], Batcher]
    metrics: Any

    def make_batcher(self, model: ServedModel) -> Batcher | None: ...


class Reloader:
    """Loads and unloads the models of ``core`` (one change at a time)."""

    def __init__(self, core: Served) -> None:
        self.core = core
        self.lock = threading.Lock()
        self.poller: threading.Thread | None = None
        self.stop = threading.Event()

    def load(self, name: str) -> dict[str, ServedModel]:
        """(Re)load ``name`` from the repository folder; its versions. 404/400 as
        `Repository.read`; the old version stays on any failure."""
        with self.lock:
            versions, sig = self.core.repo.read(name)
            self._swap(name, versions, sig)
            return versions

    def unload(self, name: str) -> None:
        """Stop serving ``name`` (requests in flight finish); 404 when it is not served."""
        with self.lock:
            if name not in self.core.repo.models:
                raise ServeError(404, f"model {name!r} is not loaded")
            self._swap(name, None, ())

    def _swap(self, name: str, versions: dict[str, ServedModel] | None, sig: tuple) -> None:
        core = self.core
        batchers = {k: b for k, b in core.batchers.items() if k[0] != name}
        old = [b for k, b in core.batchers.items() if k[0] == name]
        for model in (versions or {}).values():
            batcher = core.make_batcher(model)
            if batcher is not None:
                batchers[(name, model.version)] = batcher
        if versions:
            core.metrics.add(name)
        core.batchers = batchers  # a request holding the old model skips a batcher not its own
        core.repo.put(name, versions, sig)
        for b in old:
            b.close()

    def poll_once(self) -> list[str]:
        """One scan of the repository folder: loads what changed or appeared, unloads what
        disappeared; what it did, one line each (failures too: the old version stays)."""
        repo = self.core.repo
        if repo.root is None:
            return []
        try:
            found = sources(repo.root)
        except (OSError, ValueError) as e:
            return [f"cannot scan {repo.root}: {e}"]
        done = []
        for name, versions in found.items():
            if signature(versions) != repo.loaded_from.get(name):
                try:
                    self.load(name)
                    done.append(f"loaded {name} (versions {', '.join(sorted(versions))})")
                except ServeError as e:
                    done.append(f"kept the served {name}: {e}")
        for name in [n for n in repo.models if n not in found]:
            try:
                self.unload(name)
                done.append(f"unloaded {name} (its files are gone)")
            except ServeError:
                pass  # unloaded meanwhile
        return done

    def start_polling(self, every: float) -> None:
        """Poll every ``every`` seconds in a daemon thread (logs to stderr) until `stop`."""

        def run() -> None:
            while not self.stop.wait(every):
                for line in self.poll_once():
                    print(f"triptych serve: {line}", file=sys.stderr, flush=True)

        self.poller = threading.Thread(target=run, name="repository-poll", daemon=True)
        self.poller.start()
