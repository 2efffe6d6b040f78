"""The ``triptych`` command. Exit status: 0 ok, 1 a check failed, 2 usage or input error."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings

from triptych.common import interrupt
from triptych.common.version import __version__
from triptych.export.ort import ProviderError
from triptych.export.postprocess import ExportError

# numpy's finfo warns "smallest subnormal ... is zero" once a library has switched the CPU's
# flush-to-zero mode on at import: a note about the machine state, not about the user's data
warnings.filterwarnings("ignore", message="The value of the smallest subnormal")

USAGE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # includes SpecError, WeightsError, DataError
    TypeError,
    FileNotFoundError,
    ImportError,  # includes FrameworkUnavailable
)  # KeyError is not here: a missing key is a bug and keeps its traceback


def build_parser() -> argparse.ArgumentParser:
    from triptych.commands import (
        bench,
        evaluate,
        export,
        import_,
        info,
        models,
        parity,
        serve,
        tour,
        train,
        transfer,
    )

    parser = argparse.ArgumentParser(
        prog="triptych", description="One model spec, three frameworks, ONNX, proven equal."
    )
    parser.add_argument("--version", action="version", version=f"triptych {__version__}")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="keep the frameworks' own C++ log lines (TensorFlow's CUDA/oneDNN notices; "
        "see docs/parity.md for what they mean)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (
        info, models, train, evaluate, transfer, export, import_, parity, bench, serve, tour
    ):  # fmt: skip
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:  # read by the TensorFlow backend when it is first imported
        os.environ["TRIPTYCH_VERBOSE"] = "1"
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    interrupted = interrupt.REQUESTED
    interrupted.clear()

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.set()  # `interrupt.check` raises it again if this raise is swallowed
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_sigint)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ExportError, ProviderError, *USAGE_ERRORS) as e:
        # Ctrl-C inside a library (an interrupted lazy import in an exporter) can surface as
        # another error: the user pressed Ctrl-C, so that is what the exit says
        if interrupted.is_set():
            print("interrupted", file=sys.stderr)
            return 130
        print(f"triptych {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
