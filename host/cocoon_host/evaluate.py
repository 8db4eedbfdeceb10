"""`cocoon eval WHAT DIR`: run the firmware's own algorithms over real data.

The algorithms run on the MicroPython unix port, exactly as flashed.

    cocoon eval lock ../shared/data/welltory-ppg --json
    cocoon eval hr ../shared/data/welltory-ppg
    cocoon eval stages ../shared/data/walch2019-features --loso

Each evaluation is a module with add_arguments(parser) and run(args) -> int.
"""

from __future__ import annotations

import argparse
import importlib

EVALUATIONS: dict[str, tuple[str, str]] = {
    "lock": ("cocoon_host.eval_lock", "phase-sync lock on recorded beats (RR.txt)"),
    "hr": ("cocoon_host.eval_hr", "heart rate from PPG through the simulated MAX30102"),
    "stages": ("cocoon_host.eval_stages", "sleep-stage classifier against polysomnography"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    for name, (module, help_text) in EVALUATIONS.items():
        q = sub.add_parser(name, help=help_text, description=help_text)
        q.set_defaults(_eval_module=module)
        try:
            importlib.import_module(module).add_arguments(q)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            q.set_defaults(_eval_missing=True)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "_eval_missing", False):
        print(f"cocoon eval: '{args.what}' is not available in this version")
        return 2
    return int(importlib.import_module(args._eval_module).run(args) or 0)
