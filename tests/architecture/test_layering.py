"""The package's layers, read from its own imports (module level and function-local alike).

Layers, bottom to top (a module may import its own layer and the layers below it):

  0 common/                     spec, layers, zoo registry, init, weights, data, compare
  1 frameworks/base.py          the Backend protocol and the registry (entry points)
  2 frameworks/<fw>/            one folder per framework, the same module names in each
  3 export/, training engine    ONNX side (export dispatch, post-processing, ORT sessions);
                                the loop, checkpoints, history, corruption and masks that Model
                                drives
  4 model.py                    Model, create, load
  5 verify/, bench/, serve/,    verification engine (runners, levels), benchmarks, serving,
    training/, info.py,         recipes' runs, machine facts, the pytest helpers
    testing/
  6 report/, tour/              orchestrate and render results
  7 commands/, cli.py, the `triptych` facade (top)

Imports inside ``if TYPE_CHECKING:`` are type-only and never run, so they are not edges.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "triptych"
FRAMEWORK_NAMES = {
    "torch", "pytorch", "pt", "tensorflow", "tf", "keras", "mxnet", "mx", "gluon",
    "sonnet", "snt", "chainer", "ch",
}  # fmt: skip
ENGINE = (
    "training.loop",
    "training.checkpoint",
    "training.history",
    "training.corrupt",
    "training.masks",  # exact Dropout's masks drawn ahead for the loop
    "training.prefetch",  # the helper thread that draws them
)
RANKS: list[tuple[str, int]] = [
    ("common", 0),
    ("frameworks.base", 1),
    ("frameworks", 1),  # the package __init__ only; backend folders are matched below
    *((e, 3) for e in ENGINE),
    ("export", 3),
    ("onnx_import", 3),
    ("model", 4),
    ("verify", 5),
    ("bench", 5),
    ("serve", 5),
    ("training", 5),
    ("info", 5),
    ("testing", 5),
    ("report", 6),
    ("tour", 6),
    ("commands", 7),
    ("cli", 7),
    ("", 7),  # the facade, triptych/__init__.py
]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def is_backend(mod: str) -> bool:
    parts = mod.split(".")
    return len(parts) >= 3 and parts[1] == "frameworks" and parts[2] != "base"


def rank(mod: str) -> int:
    if is_backend(mod):
        return 2
    local = mod.removeprefix("triptych").removeprefix(".")
    for prefix, r in RANKS:
        if local == prefix or (prefix and local.startswith(prefix + ".")):
            return r
    raise AssertionError(f"{mod} is in no layer: add it to RANKS")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def imports_of(mod: str) -> list[tuple[str, int]]:
    """(imported triptych module, line) for every runtime import in ``mod``."""
    path = MODULES[mod]
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "triptych"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "triptych":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.append((full if full in MODULES else base, node.lineno))
    return out


GRAPH = {mod: imports_of(mod) for mod in MODULES}


def test_every_module_has_a_layer() -> None:
    for mod in MODULES:
        rank(mod)


def test_imports_only_point_down() -> None:
    bad = [
        f"{mod}:{line} imports {target} (layer {rank(target)} above {rank(mod)})"
        for mod, edges in GRAPH.items()
        for target, line in edges
        if target in MODULES and rank(target) > rank(mod)
    ]
    assert not bad, "\n".join(bad)


def test_common_imports_only_common() -> None:
    bad = [
        f"{mod}:{line} imports {target}"
        for mod, edges in GRAPH.items()
        if mod.startswith("triptych.common")
        for target, line in edges
        if not target.startswith("triptych.common")
    ]
    assert not bad, "\n".join(bad)


def test_only_frameworks_import_a_backend() -> None:
    bad = [
        f"{mod}:{line} imports backend {target}"
        for mod, edges in GRAPH.items()
        if not is_backend(mod)
        for target, line in edges
        if is_backend(target)
    ]
    assert not bad, "\n".join(bad)


def test_library_never_imports_commands_or_the_facade() -> None:
    bad = []
    for mod, edges in GRAPH.items():
        if mod in ("triptych.cli", "triptych") or mod.startswith("triptych.commands"):
            continue
        for target, line in edges:
            if target == "triptych" or target.startswith("triptych.commands"):
                bad.append(f"{mod}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, targets in GRAPH.items():
        edges[mod] |= {t for t, _ in targets if t in MODULES and t != mod}
    # a submodule import runs the package __init__ too
    for mod in MODULES:
        parent = mod.rsplit(".", 1)[0]
        if "." in mod and parent in MODULES and parent != "triptych":
            for importer, targets in edges.items():
                if mod in targets and importer != parent and not importer.startswith(parent + "."):
                    targets.add(parent)
    cycles, state = [], dict.fromkeys(MODULES, 0)

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state[nxt] == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif state[nxt] == 0:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for mod in sorted(MODULES):
        if state[mod] == 0:
            visit(mod, [])
    assert not cycles, "\n".join(cycles)


def framework_comparisons(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every comparison with a framework name string in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left, *node.comparators]:
            many = isinstance(operand, ast.Tuple | ast.List | ast.Set)
            for v in operand.elts if many else [operand]:
                if isinstance(v, ast.Constant) and v.value in FRAMEWORK_NAMES:
                    found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_framework_name_comparisons_outside_frameworks() -> None:
    bad = [
        f"{mod}:{line} {expr}"
        for mod, path in MODULES.items()
        if not mod.startswith("triptych.frameworks")
        for line, expr in framework_comparisons(path.read_text())
    ]
    assert not bad, "\n".join(bad)


def test_the_checks_catch_planted_violations() -> None:
    """A passing run means something: each rule fails on a planted violation."""
    assert framework_comparisons("x = fw == 'torch'")
    assert framework_comparisons("y = name in ('mxnet', 'jax')")
    assert not framework_comparisons("z = fw == other")
    assert rank("triptych.model") > rank("triptych.common.spec")
    assert rank("triptych.frameworks.torch.build") == 2 and is_backend("triptych.frameworks.mx")
    assert not is_backend("triptych.frameworks.base")
    tree_edges = imports_of("triptych.cli")
    assert any(target.startswith("triptych.commands") for target, _ in tree_edges)
