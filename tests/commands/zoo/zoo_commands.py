"""Shared helpers of the zoo-wide command tests: every zoo model through every command."""

from __future__ import annotations

import json
from pathlib import Path

from triptych.cli import main
from triptych.common import zoo

MODELS = zoo.names()


def run_ok(args: list[str], capsys) -> str:
    """Run the CLI; assert exit 0 and no traceback; return stdout."""
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, f"{' '.join(args)} exited {code}:\n{err[-2000:]}\n{out[-2000:]}"
    assert "Traceback" not in err
    return out


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
