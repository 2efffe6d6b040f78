"""TensorFlow/Keras 3 set-up, imported before anything else of this backend.

Keras 3 must run on the tensorflow backend (``KERAS_BACKEND``); TensorFlow's C++ logging and
retracing notices are quietened. Each cure lives here once.

TensorFlow 2.21's C++ lines are noise on a CPU machine, not failures: ``cudart_stub ... Could
not find cuda drivers`` and ``failed call to cuInit: ... UNKNOWN ERROR (303)`` say there is no
GPU (TensorFlow then runs on the CPU), ``oneDNN custom operations are on`` that its CPU kernels
may round in another order, ``remapper failed: INVALID_ARGUMENT`` that a graph rewrite was
skipped (the graph runs unfused). ``TF_CPP_MIN_LOG_LEVEL`` no longer reaches the lines absl
prints before its logging is initialised (during ``import tensorflow``), so the import runs
with the process's stderr (file descriptor 2) sent to a buffer, and every later line below
FATAL is filtered by ``TF_CPP_MIN_LOG_LEVEL=3``. ``TRIPTYCH_VERBOSE=1`` (the CLI's
``--verbose``) keeps them all.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

VERBOSE = os.environ.get("TRIPTYCH_VERBOSE", "").strip() not in ("", "0")
if not VERBOSE:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def quiet_native_stderr(quiet: bool = True) -> Iterator[None]:
    """While inside, what native code writes to file descriptor 2 goes to a temporary file
    (shown only if the block raises, so a failed import still explains itself)."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


with quiet_native_stderr(not VERBOSE):
    import keras
    import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # retracing notices on every new model are noise here

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"KERAS_BACKEND is {keras.backend.backend()!r}; triptych's tensorflow "
        f"backend needs KERAS_BACKEND=tensorflow"
    )

__all__ = ["keras", "tf"]
