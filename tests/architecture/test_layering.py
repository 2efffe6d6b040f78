"""The package's layers, read from its own imports (module level and function-local alike).

The layer map is docs/architecture.md; this test reads it (a module may import its own layer
and the layers below it).

Imports inside ``if TYPE_CHECKING:`` count like any other: a type named from a layer above
is an upward dependency (protocols below replace them: `ModelLike`, `ConvertContext`).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "triptych"
FRAMEWORK_NAMES = {
    "torch", "pytorch", "pt", "tensorflow", "tf", "keras", "mxnet", "mx", "gluon",
    "sonnet", "snt", "chainer", "ch",
}  # fmt: skip
LAYER_MAP = ROOT.parent / "docs" / "architecture.md"


def read_layer_map(text: str) -> list[tuple[str, int]]:
    """(module prefix relative to ``triptych``, layer) from the map's table rows
    ``| <layer> | `a`, `b.c` | what |``, longest prefixes first; ``__init__`` is the facade
    (the empty prefix) and ``frameworks.<fw>`` the backend folders (matched by `is_backend`)."""
    ranks = []
    for row in re.finditer(r"^\| (\d) \| ([^|]*) \|", text, re.M):
        for name in re.findall(r"`([^`]+)`", row.group(2)):
            if name != "frameworks.<fw>":
                ranks.append(("" if name == "__init__" else name, int(row.group(1))))
    return sorted(ranks, key=lambda pr: -len(pr[0]))


RANKS = read_layer_map(LAYER_MAP.read_text())


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
    raise AssertionError(f"{mod} is in no layer: add it to the map in docs/architecture.md")


def imports_of(mod: str) -> list[tuple[str, int]]:
    """(imported triptych module, line) for every import in ``mod``, type-only ones
    (under ``if TYPE_CHECKING:``) included: naming a type from above is a dependency too."""
    path = MODULES[mod]
    tree = ast.parse(path.read_text())
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
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
    assert read_layer_map("| 3 | `export`, `engine` | x |\n| 7 | `cli`, `__init__` | y |") == [
        ("export", 3),
        ("engine", 3),
        ("cli", 7),
        ("", 7),
    ]
    assert rank("triptych.engine.loop") == 3 and rank("triptych") == 7
    # a type-only import is an edge (training.pictures names Model under TYPE_CHECKING)
    assert any(t == "triptych.model" for t, _ in imports_of("triptych.training.pictures"))
    tree_edges = imports_of("triptych.cli")
    assert any(target.startswith("triptych.commands") for target, _ in tree_edges)
