"""The virtual board's side channel to its runner (host/cocoon_host/sim.py), which owns the link.

    hostctl.open(ctl_fd, ack_fd)       # before `/` is remounted: /dev/fd/N must still resolve
    hostctl.run(); ...user code...; hostctl.idle()

The serial link (stdin/stdout) carries only what a real board's USB serial carries. Everything the
runner must know about the board's life goes on this channel instead, one ASCII line per message:

    run                  user code runs: the runner turns a Ctrl-C byte into SIGINT
    idle N               the REPL reads again: Ctrl-C is a plain byte; the runner answers `ack N`
    intr C               micropython.kbd_intr(C): C = -1 lets Ctrl-C through as data
    ready                the board is set up and about to run boot.py
    reset KIND MODE W D  restart the interpreter: KIND soft|hard|wdt|deepsleep, MODE raw|friendly,
                         W the virtual world time (us), D us of deep sleep before the boot
    until W              --until was reached at virtual world time W (us): the runner stops
    fatal TEXT           the board could not be set up (bad option or scenario): the runner says so

The `idle` handshake closes a race: a SIGINT sent just before the runner learned that user code
had finished must land here, where it is swallowed, and not in the REPL's own code.
"""

import time as _real_time

_ctl = None
_ack = None
_seq = 0
_kbd_intr = 3  # the character that interrupts, as micropython.kbd_intr() sets it


def open(ctl_fd, ack_fd):  # noqa: A001 - mirrors os.open: the module is used as hostctl.open
    global _ctl, _ack
    import builtins

    _ctl = builtins.open("/dev/fd/%d" % ctl_fd, "wb")
    _ack = builtins.open("/dev/fd/%d" % ack_fd, "rb")


def connected():
    return _ctl is not None


def send(line):
    if _ctl is None:
        return
    _ctl.write(line + "\n")


def run():
    send("run")


def idle():
    """Tell the runner that Ctrl-C is data again, and wait until it has understood."""
    global _seq
    if _ack is None:
        return
    _seq += 1
    want = "ack %d" % _seq
    sent = False
    while True:
        try:
            if not sent:
                send("idle %d" % _seq)
                sent = True
            while True:
                line = _ack.readline()
                if not line:
                    halt()  # the runner is gone
                if str(line, "ascii").strip() == want:
                    break
            # A SIGINT that was already on its way surfaces at the next check: let it come here.
            for _ in range(3):
                pass
            return
        except KeyboardInterrupt:
            pass


def kbd_intr(c):
    global _kbd_intr
    _kbd_intr = c
    send("intr %d" % c)


def reset(kind, mode, world_us, sleep_us=0):
    """Ask the runner for a new interpreter. Never returns: the runner ends this process."""
    send("reset %s %s %d %d" % (kind, mode, world_us, sleep_us))
    halt()


def until(world_us):
    send("until %d" % world_us)
    halt()


def fatal(text):
    send("fatal " + " ".join(str(text).split()))
    halt()


def halt():
    """Wait to be ended by the runner, like a chip held in reset. Ctrl-C cannot wake it."""
    if _ctl is None:
        raise SystemExit(0)
    while True:
        try:
            _real_time.sleep(1)
        except KeyboardInterrupt:
            pass
