"""Sonnet 2 set-up: TensorFlow through the TensorFlow backend's `compat` first (its logging
and environment cures live there once), then ``import sonnet``.

dm-sonnet 2.0.2 (2020) imports and runs on TensorFlow 2.21: it needs ``dm-tree`` and
``tabulate`` (pinned in constraints.txt, the ``sonnet`` extra).
"""

from __future__ import annotations

from triptych.frameworks.tensorflow.compat import tf

# isort: split
import sonnet as snt

__all__ = ["snt", "tf"]
