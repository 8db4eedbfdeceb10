"""What firmware this is: the release version and the build id that `cocoon flash` writes.

    from cocoon import version
    version.VERSION, version.build_id()   # "0.1.0", "3f2a9c01b7de" (or "dev" when run from source)

VERSION matches `version` in pyproject.toml (a host test checks it). The build id is a hash of the
compiled files, written by the host into `build.txt` at the root of the firmware slot
(docs/design.md, Flashing), so a board reports exactly which bytes it runs.
"""

VERSION = "0.1.0"
BUILD_FILE = "build.txt"


def slot_dir():
    """The folder that holds the `cocoon` package (a firmware slot such as /fw/a), or None."""
    path = __file__
    for _ in range(2):  # .../SLOT/cocoon/version.mpy -> .../SLOT
        cut = path.rfind("/")
        if cut < 0:
            return None
        path = path[:cut]
    return path or "/"


def build_id():
    """The build id of the running firmware, or "dev" when it was not flashed by `cocoon flash`."""
    folder = slot_dir()
    if folder is None:
        return "dev"
    try:
        with open(folder + "/" + BUILD_FILE) as f:
            text = f.read().strip()
    except OSError:
        return "dev"
    # A build id is short hex; anything else means a damaged file, not a build.
    if 0 < len(text) <= 40 and all(c in "0123456789abcdef" for c in text):
        return text
    return "dev"
