"""Command line: python -m chainrule {demo,train,eval,graph,explain} ..."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# Modules that add their own sub-commands through add_commands(subparsers).
COMMAND_MODULES = ("chainrule.demo", "chainrule.train", "chainrule.viz.commands",
                   "chainrule.viz.playground")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chainrule",
        description="chainrule: backpropagation you can see.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.add_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args) or 0
        sys.stdout.flush()   # a closed pipe shows up here, not at exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except (ValueError, OSError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException, limit: int = 500) -> str:
    """An exception as one short line: OSErrors name the file, long messages are cut."""
    if isinstance(exc, OSError) and exc.filename is not None:
        text = f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _quiet_broken_pipe() -> int:
    """The reader of stdout went away (`... | head`): stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # so the flush at exit cannot fail again
    except (OSError, ValueError, AttributeError):
        pass
    return 141   # 128 + SIGPIPE, what a shell reports for a tool killed by the closed pipe


if __name__ == "__main__":
    sys.exit(main())
