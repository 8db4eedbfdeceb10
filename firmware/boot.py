# boot.py: runs at every reset. Puts the active firmware slot on sys.path (see docs/design.md, Flashing).
# Kept tiny and stable: it is the one file a half-finished flash must never break.
import sys

try:
    with open("/fw/active") as f:
        _slot = f.read().strip()
    if _slot in ("a", "b"):
        sys.path.insert(1, "/fw/" + _slot)
except OSError:
    pass  # no slot yet: a board with only MicroPython, or firmware copied flat
