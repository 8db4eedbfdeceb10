"""`make bench`: every benchmark of the project, in one run.

Each `bench/bench_*.py` module defines `run() -> list[str]` (lines of the report). Speed
figures are ratios against a baseline measured in the same run, because these machines are
noisy. A benchmark that fails is reported and makes the run fail, after the others have run.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    sys.path.insert(0, str(HERE.parent))
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    only = set(sys.argv[1:])
    failed = []
    for name in names:
        if only and name not in only and name.removeprefix("bench_") not in only:
            continue
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            for line in importlib.import_module(f"bench.{name}").run():
                print(f"   {line}", flush=True)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
