"""Command line: python -m chainrule {demo,train,eval,graph,explain} ..."""
from __future__ import annotations

import argparse
import importlib
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
        return args.func(args) or 0
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
