"""Every example in README.md and docs/*.md runs.

Fenced blocks are read from each page: ```python blocks are executed, in page order in one
namespace (a later block may use an earlier one's names), and ```console / ```bash / ```sh
blocks run their ``triptych ...`` commands through the CLI (``$ triptych ...`` lines in a
console block; every line in bash/sh), all in one temporary directory per page, so a command
may write what a later Python block reads (`doc_runner.py` does the running). Output samples
go in ```text blocks, which are not run.

A block too slow for the suite (``make run``, a server that runs until stopped) is marked by
an HTML comment on the line right before it, with the reason::

    <!-- not run in tests: <reason> -->

Besides running the examples this checks the pages' form: every fence names its language;
a shell example is a ``triptych`` command (anything else must be marked, with why); markers
carry a reason and sit right before a runnable block; docs/index.md, the site's home, shows
the same examples and the same headline table as README.md (they run once, from README.md);
README.md's relative links point at files that exist.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNNER = Path(__file__).resolve().parent / "doc_runner.py"
README = ROOT / "README.md"
INDEX = DOCS / "index.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
PYTHON = {"python", "py"}
SHELL = {"console", "bash", "sh", "shell"}
#: a page's examples must finish within this (its CLI commands have 300 s each)
PAGE_TIMEOUT_S = 600

FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<lang>[^\s`]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*not run in tests\s*(?P<colon>:)?(?P<reason>.*?)-->\s*$")
#: shell syntax that the runner does not interpret (it runs one command per line)
OPERATORS = re.compile(r"^[|&;<>()]+$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # the opening fence's line, 1-based
    lang: str
    code: str
    skip: str | None  # the not-run reason, if marked
    problems: tuple[str, ...]  # malformed marker etc.

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.lang in PYTHON | SHELL


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def read_blocks(path: Path, name: str | None = None) -> list[Block]:
    """The fenced code blocks of a markdown page, each with the not-run marker right before
    it (the nearest non-blank line), if any; ``name`` (default: the path in the repository)
    names the page in messages."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent, fence, lang = i, m["indent"], m["fence"], m["lang"].lower()
        body: list[str] = []
        i += 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence) and set(lines[i].strip()) == {fence[0]}
        ):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1  # the closing fence
        prev = start - 1
        while prev >= 0 and not lines[prev].strip():
            prev -= 1
        skip, problems = None, []
        marker = MARKER.match(lines[prev]) if prev >= 0 else None
        if marker:
            reason = marker["reason"].strip()
            if not marker["colon"] or not reason:
                problems.append(
                    "its not-run marker gives no reason: <!-- not run in tests: why -->"
                )
            skip = reason or "?"
        blocks.append(
            Block(name or rel(path), start + 1, lang, "\n".join(body) + "\n", skip, tuple(problems))
        )
    return blocks


def shell_commands(block: Block) -> list[str]:
    """The commands of a shell block: ``$ `` lines of a console block (the rest is output),
    every non-comment line of a bash/sh block; ``\\`` continues a line."""
    commands: list[str] = []
    pending = ""
    for raw in block.code.splitlines():
        line = raw.rstrip()
        if pending:
            line = pending + " " + line.strip()
            pending = ""
        elif block.lang == "console":
            if not line.startswith("$"):
                continue
            line = line[1:].strip()
        else:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        commands.append(line)
    return commands


def command_problems(command: str) -> list[str]:
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError as e:
        return [f"`{command}`: {e}"]
    if not tokens or tokens[0] != "triptych":
        return [
            f"`{command}` is not a triptych command: the suite runs only those; mark the block "
            "<!-- not run in tests: why --> if it must stay"
        ]
    ops = [t for t in tokens if OPERATORS.match(t)]
    if ops:
        return [f"`{command}` uses shell syntax {ops}: one plain command per line"]
    return []


def form_problems(blocks: list[Block]) -> list[str]:
    problems = []
    for b in blocks:
        problems += [f"{b.where}: {p}" for p in b.problems]
        if not b.lang:
            problems.append(
                f"{b.where}: a fence without a language; ```text for output, ```python or "
                "```console for what runs"
            )
        if b.skip is not None and not b.runnable:
            problems.append(f"{b.where}: a not-run marker on a ```{b.lang} block, which never runs")
        if b.runnable and b.skip is None and b.lang in SHELL:
            commands = shell_commands(b)
            if not commands:
                problems.append(f"{b.where}: a shell block with no `$ triptych ...` command")
            for c in commands:
                problems += [f"{b.where}: {p}" for p in command_problems(c)]
    return problems


def runnable(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.runnable and b.skip is None]


def plan_of(page: Path) -> dict:
    return {
        "page": rel(page),
        "blocks": [
            {"kind": "python", "line": b.line, "code": b.code}
            if b.lang in PYTHON
            else {"kind": "shell", "line": b.line, "commands": shell_commands(b)}
            for b in runnable(read_blocks(page))
        ],
    }


# docs/index.md mirrors README.md's examples (checked below), so they run once, from README
RUN_PAGES = [p for p in PAGES if p != INDEX and runnable(read_blocks(p))]


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_page_blocks_are_well_formed(page: Path) -> None:
    problems = form_problems(read_blocks(page))
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES, ids=rel)
def test_page_examples_run(page: Path, tmp_path: Path) -> None:
    plan = plan_of(page)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan), encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + ":" + env.get("PATH", "")  # `triptych` inside Python examples
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    try:
        proc = subprocess.run(
            [sys.executable, str(RUNNER), str(plan_file)],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=PAGE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode()
        pytest.fail(f"{rel(page)}: examples took more than {PAGE_TIMEOUT_S} s\n{out[-4000:]}")
    failed = re.findall(r"^::: FAILED (.*)$", proc.stdout, flags=re.M)
    assert proc.returncode == 0, (
        f"{rel(page)}: example {failed[-1] if failed else '(runner)'} failed "
        f"(exit {proc.returncode}); fix the page, not the code, if the example is wrong\n"
        + proc.stdout[-8000:]
    )
    passed = re.findall(r"^::: ok ", proc.stdout, flags=re.M)
    assert len(passed) == len(plan["blocks"]), proc.stdout[-4000:]


def test_the_form_checks_catch_planted_faults(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```\nbare\n```\n\n"
        "<!-- not run in tests -->\n```console\n$ triptych run\n```\n\n"
        "<!-- not run in tests: slow -->\n```text\noutput\n```\n\n"
        "```sh\nmake run\n```\n\n"
        "```console\n$ triptych models | head\n```\n\n"
        "<!-- not run in tests: a server runs until stopped -->\n```console\n$ curl x\n```\n\n"
        "```console\n$ triptych train gan \\\n    --steps 2   # short\nsome output\n```\n",
        encoding="utf-8",
    )
    blocks = read_blocks(page, "page.md")
    problems = "\n".join(form_problems(blocks))
    assert "page.md:1: a fence without a language" in problems
    assert "page.md:6: its not-run marker gives no reason" in problems
    assert "page.md:11: a not-run marker on a ```text block" in problems
    assert "page.md:15: `make run` is not a triptych command" in problems
    assert "page.md:19: `triptych models | head` uses shell syntax ['|']" in problems
    assert "page.md:24" not in problems  # marked, with a reason
    assert shell_commands(blocks[-1]) == ["triptych train gan --steps 2   # short"]
    assert "page.md:28" not in problems
    assert [b.line for b in runnable(blocks)] == [15, 19, 28]


def _headline_table(text: str) -> list[str]:
    section = text.split("## Choosing a framework: the headline", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_index_mirrors_the_readme() -> None:
    readme, index = read_blocks(README), read_blocks(INDEX)
    assert [(b.lang, b.code, b.skip) for b in index] == [(b.lang, b.code, b.skip) for b in readme]
    table = _headline_table(README.read_text(encoding="utf-8"))
    assert table and table == _headline_table(INDEX.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """Python-Markdown's toc slug (what mkdocs and the anchors in these pages use)."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def test_readme_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        file = ROOT / path
        if not file.exists():
            bad.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+\s+(.*)$", file.read_text(encoding="utf-8"), flags=re.M)
            if anchor not in {slug(h) for h in headings}:
                bad.append(f"{target}: no heading with that anchor")
    assert not bad, "\n".join(bad)
