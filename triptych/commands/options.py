"""The CLI's shared vocabulary: one framework option and validated comma-list parsers, used
by every subcommand so `-f`, `--batch` and friends mean and check the same everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from triptych.frameworks.base import FRAMEWORKS, resolve


def framework_name(text: str) -> str:
    """argparse type: a framework name or alias -> canonical name."""
    try:
        return resolve(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _known() -> str:
    return ", ".join(f"{i.name} ({'/'.join(i.aliases)})" for i in FRAMEWORKS.values())


def add_frameworks_option(parser: argparse.ArgumentParser) -> None:
    """``-f/--framework/--frameworks FW [FW ...]``, repeatable, aliases accepted; the
    result is ``args.frameworks`` (None: every installed framework)."""
    parser.add_argument(
        "-f",
        "--framework",
        "--frameworks",
        dest="frameworks",
        action="extend",
        nargs="+",
        type=framework_name,
        metavar="FW",
        help=f"frameworks to use, repeatable: {_known()} (default: every installed one)",
    )


def add_framework_option(parser: argparse.ArgumentParser, default: str = "torch") -> None:
    """``-f/--framework FW``: exactly one framework (aliases accepted), default ``default``."""
    parser.add_argument(
        "-f",
        "--framework",
        type=framework_name,
        default=default,
        metavar="FW",
        help=f"framework: {_known()} (default {default})",
    )


def comma_ints(option: str, minimum: int = 1) -> Callable[[str], tuple[int, ...]]:
    """argparse type for ``1,32,256``: integers >= ``minimum``, at least one."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} wants integers like 1,32; got {text!r}"
            ) from None
        if not values or min(values) < minimum:
            raise argparse.ArgumentTypeError(
                f"{option} wants integers >= {minimum} like 1,32; got {text!r}"
            )
        return values

    return parse


def comma_choices(option: str, choices: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """argparse type for ``train,infer``: names from ``choices``, at least one."""

    def parse(text: str) -> tuple[str, ...]:
        values = tuple(v.strip() for v in text.split(",") if v.strip())
        bad = [v for v in values if v not in choices]
        if not values or bad:
            raise argparse.ArgumentTypeError(
                f"{option}: {', '.join(bad) or repr(text)} not allowed; choose from "
                f"{', '.join(choices)}"
            )
        return values

    return parse


def positive_int(option: str, minimum: int = 1) -> Callable[[str], int]:
    """argparse type: one integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} wants an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{option} must be >= {minimum}; got {value}")
        return value

    return parse


def optional_float(option: str) -> Callable[[str], float]:
    """argparse type: a finite non-negative float."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} wants a number; got {text!r}") from None
        if not (value >= 0 and value < float("inf")):
            raise argparse.ArgumentTypeError(f"{option} must be a finite number >= 0; got {text}")
        return value

    return parse


__all__: list[Any] = [
    "add_framework_option",
    "add_frameworks_option",
    "comma_choices",
    "comma_ints",
    "framework_name",
    "optional_float",
    "positive_int",
]
