"""The `os` module of the virtual board: the unix port's, with ilistdir() as on the ESP32.

    import os
    list(os.ilistdir("/"))   # [('boot.py', 0x8000, 0, 139), ...]: name, type, inode, size

The ESP32's littlefs and FAT give (name, type, inode, size); the unix port's VfsPosix gives no
size, and `mpremote fs ls` would show every file as 0 bytes.
"""

import os as _unix_os

for _name in dir(_unix_os):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_unix_os, _name)

_S_IFDIR = 0x4000


def ilistdir(path="."):
    prefix = "" if path in ("", ".") else (path if path.endswith("/") else path + "/")
    for entry in _unix_os.ilistdir(path):
        name, kind = entry[0], entry[1]
        size = 0
        if kind != _S_IFDIR:
            try:
                size = _unix_os.stat(prefix + name)[6]
            except OSError:
                pass  # gone meanwhile, or a dangling link
        yield (name, kind, 0, size)


def listdir(path="."):
    return _unix_os.listdir(path)
