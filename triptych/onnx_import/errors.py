"""The importer's errors: `Unsupported` (one node, raised by its converter) and
`UnsupportedOnnx` (the file: every unsupported node, one line each)."""

from __future__ import annotations


class Unsupported(ValueError):
    """This node cannot become spec layers (the message is the reason)."""


class UnsupportedOnnx(ValueError):
    """An ONNX file the spec vocabulary cannot express. ``problems`` holds one line per
    unsupported node: ``<op type> <node name>: <why>``; the message lists them all."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path, self.problems = path, list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"{path}: {len(self.problems)} node(s) cannot be imported into a triptych spec:\n"
            f"{lines}"
        )


def where(op_type: str, name: str) -> str:
    """How a problem line names its node."""
    return f"{op_type} {name or '<unnamed>'}"
