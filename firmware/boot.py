# boot.py: runs at every reset, hard or soft. Kept tiny and stable: it is the one file that a
# half-finished flash or a crashing firmware must never break.
#  1. Puts the active firmware slot on sys.path: /fw/active names "a" or "b" (docs/design.md,
#     Flashing), so a cable pulled during a flash leaves either the old or the new slot active.
#  2. Holds the safe-mode guard that main.py calls (main.py runs only on a hard reset, so the
#     soft resets of every mpremote session are not counted as boots):
#       safe = boot.enter()   # count this boot; None, or why the board must stay in safe mode
#       boot.good()           # the app calls it once it has run for 60 s
#     Like ESPHome's safe mode: 10 boots in a row that never reached 1 min of uptime (a crash loop
#     under the watchdog) -> this boot runs in safe mode: light off, telemetry says why, REPL free.
#     Entering safe mode clears the count, so the next reset tries the firmware again.
import sys

FW = "/fw"
BOOTS_FILE = "/fw/boots"
SAFE_AFTER = 10


def active_slot(fw=FW):
    try:
        with open(fw + "/active") as f:
            slot = f.read().strip()
    except OSError:
        return None  # no slot yet: a board with only MicroPython, or firmware copied flat
    return slot if slot in ("a", "b") else None


def count(path=BOOTS_FILE):
    """Boots in a row that have not reached 60 s of uptime (this one included, once entered)."""
    try:
        with open(path) as f:
            return int(f.read().strip() or "0")
    except (OSError, ValueError):
        return 0


def _write(path, n):
    try:
        with open(path, "w") as f:
            f.write("%d\n" % n)
    except OSError:
        pass  # no /fw yet (blank board): nothing to guard


def enter(path=BOOTS_FILE, limit=SAFE_AFTER):
    n = count(path)
    if n >= limit:
        _write(path, 0)
        return (
            "%d boots in a row ended before 60 s of uptime: safe mode, light off. Reset the "
            "board to try again, or flash a fixed firmware with `cocoon flash`" % n
        )
    _write(path, n + 1)
    return None


def good(path=BOOTS_FILE):
    _write(path, 0)


_slot = active_slot()
if _slot is not None and FW + "/" + _slot not in sys.path:
    sys.path.insert(1, FW + "/" + _slot)
