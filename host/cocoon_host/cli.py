"""The `cocoon` command: a table of sub-commands, each a module with add_arguments() and run().

    cocoon sim                      start a virtual board
    cocoon flash --port URL         compile, copy what changed, reset, wait for HELLO

Each command module is imported only when used, so `cocoon --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import CocoonError

# name -> (module, one-line help). A module defines add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("cocoon_host.sim", "run a virtual board (raw REPL on socket:// or a pty)"),
    "flash": (
        "cocoon_host.flash",
        "compile the firmware, copy what changed, reset, wait for HELLO",
    ),
    "telemetry": ("cocoon_host.telemetry", "show, print or record a board's live telemetry"),
    "night": ("cocoon_host.night", "simulate a whole night on a virtual board and record it"),
    "eval": ("cocoon_host.evaluate", "evaluate the firmware's algorithms on real data"),
    "model": (
        "cocoon_host.model",
        "fit the sleep-stage model and write the firmware's model file",
    ),
    "check-leds": (
        "cocoon_host.flashcheck",
        "count WCAG flashes in a --record-leds CSV (exit 1 if more than 3 per second)",
    ),
    "festival": ("cocoon_host.festival", "set a cocoon's festival group and key, or show sync"),
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cocoon", description="Chrono-Cocoon host tools.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            importlib.import_module(module).add_arguments(p)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            p.set_defaults(_missing=True)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "command", None):
        ap.print_help()
        return 2
    if getattr(args, "_missing", False):
        print(f"cocoon: '{args.command}' is not available in this version", file=sys.stderr)
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except CocoonError as e:
        print(f"cocoon {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
