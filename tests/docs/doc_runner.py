"""Runs the examples of one documentation page, in order, in the current directory.

``python doc_runner.py PLAN.json``: the plan (written by ``test_doc_examples.py``) lists the
page's runnable blocks. Python blocks are executed one after the other in one namespace, as
if the page's Python were one script (a later block may use what an earlier one defined);
shell blocks run their ``triptych`` commands through the CLI between them, in the same
directory, so a Python block can read what a command wrote. Each block prints a line
``::: ok PAGE:LINE`` when it passes; the first failure prints its traceback or the command's
output and ``::: FAILED PAGE:LINE ...``, and the runner exits 1. Tracebacks name the page's
own line numbers.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import traceback
from pathlib import Path

#: seconds one CLI command may take
COMMAND_TIMEOUT_S = 300


def triptych_argv(command: str) -> list[str]:
    argv = shlex.split(command, comments=True)
    # the triptych next to this Python (the .venv's), whatever PATH holds
    exe = Path(sys.executable).with_name("triptych")
    if argv and argv[0] == "triptych" and exe.exists():
        argv[0] = str(exe)
    return argv


def run_python(where: str, line: int, code: str, namespace: dict) -> bool:
    # pad with newlines so that tracebacks show the page's line numbers
    source = "\n" * line + code
    try:
        exec(compile(source, where.rsplit(":", 1)[0], "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        return False
    return True


def run_shell(where: str, commands: list[str]) -> bool:
    for command in commands:
        print(f"$ {command}", flush=True)
        try:
            proc = subprocess.run(
                triptych_argv(command),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as e:
            out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode()
            print(out[-4000:])
            print(f"::: FAILED {where}: `{command}` took more than {COMMAND_TIMEOUT_S} s")
            return False
        if proc.returncode != 0:
            print(proc.stdout[-6000:])
            print(f"::: FAILED {where}: `{command}` exited {proc.returncode}")
            return False
    return True


def main() -> int:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    sys.path.insert(0, os.getcwd())  # as `python` started here would have it
    namespace: dict = {"__name__": "__main__"}
    for block in plan["blocks"]:
        where = f"{plan['page']}:{block['line']}"
        print(f"::: {where} ({block['kind']})", flush=True)
        start = time.perf_counter()
        if block["kind"] == "python":
            ok = run_python(where, block["line"], block["code"], namespace)
        else:
            ok = run_shell(where, block["commands"])
        sys.stdout.flush()
        sys.stderr.flush()
        if not ok:
            print(f"::: FAILED {where} ({block['kind']} block)", flush=True)
            return 1
        print(f"::: ok {where} {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
