"""Per-step training history: a list of records, written as JSON and CSV (atomically)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from triptych.common.weights import write_text_atomic


class History(list):
    """Records ``{"step": int, <metric>: float, ...}``, one per optimizer step."""

    def column(self, key: str) -> list[float]:
        return [r[key] for r in self if key in r]

    def last(self, key: str, n: int = 1) -> float:
        """Mean of the last ``n`` values of ``key``."""
        values = self.column(key)[-n:]
        if not values:
            raise KeyError(f"no {key!r} in the history; keys: {sorted(self[0]) if self else []}")
        return float(sum(values) / len(values))

    def save(self, out_dir: str | os.PathLike) -> tuple[Path, Path]:
        out = Path(out_dir)
        text = json.dumps(list(self), indent=1)
        j = write_text_atomic(out / "history.json", text)
        keys: list[str] = []
        for r in self:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self)
        c = write_text_atomic(out / "history.csv", buf.getvalue())
        return j, c

    @classmethod
    def load(cls, out_dir: str | os.PathLike) -> History:
        path = Path(out_dir) / "history.json"
        return cls(json.loads(path.read_text())) if path.exists() else cls()

    def to_list(self) -> list[dict[str, Any]]:
        return list(self)
