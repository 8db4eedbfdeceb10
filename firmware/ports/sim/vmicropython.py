"""The `micropython` module of the virtual board: the unix port's own, except kbd_intr.

    import micropython
    micropython.kbd_intr(-1)   # Ctrl-C now arrives as a byte on stdin, as on the ESP32

On the unix port, kbd_intr(-1) would restore the default SIGINT action, and the runner's Ctrl-C
would kill the board. Here it tells the runner to pass Ctrl-C through as data instead.
(`const`, `native` and `viper` are handled by the compiler and keep working through this module.)
"""

import hostctl
import micropython as _mp

for _name in dir(_mp):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_mp, _name)


def kbd_intr(chr):  # noqa: A002 - micropython.kbd_intr's own signature
    hostctl.kbd_intr(chr)
