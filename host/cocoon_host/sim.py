"""`cocoon sim`: a virtual board that mpremote cannot tell from an ESP32.

    cocoon sim                                  # boots the repository's firmware; prints its URL
    mpremote connect socket://127.0.0.1:7788 exec "import machine; print(machine.unique_id())"

The first line on stdout is the URL to connect to (`socket://127.0.0.1:PORT`, or the pty's device
path with --pty alone); everything else goes to stderr. `mpremote repl` needs --pty: its console
waits on the port's file descriptor, which pyserial's socket:// does not have. The board runs
until Ctrl-C, SIGTERM or --until T (seconds of virtual time), and leaves no process behind. How it
works: sim_runner.py and firmware/ports/sim/supervisor.py. SimProcess runs it as a subprocess:

    with SimProcess(["--blank", "--speed", "max"]) as sim:
        subprocess.run(["mpremote", "connect", sim.url, "exec", "print(1)"])
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import build
from .errors import CocoonError
from .sim_runner import ROOT, SimOptions, VirtualBoard

DEFAULT_PORT = 7788
DEFAULT_LEDS = 60
DEFAULT_WDT_MS = 8000
PINMAP = ROOT / "hardware" / "pinmap.json"


def _pinmap_defaults() -> tuple[int, int]:
    """LED count and watchdog timeout of the reference build (hardware/pinmap.json)."""
    try:
        pm = json.loads(PINMAP.read_text())
        return int(pm["strip"]["leds"]), int(pm.get("wdt_ms", DEFAULT_WDT_MS))
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_LEDS, DEFAULT_WDT_MS


def add_arguments(p: argparse.ArgumentParser) -> None:
    leds, wdt_ms = _pinmap_defaults()
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = (
        "examples:\n"
        "  cocoon sim                      then: mpremote connect socket://127.0.0.1:7788 ls\n"
        "  cocoon sim --pty                then: mpremote connect /dev/pts/N repl\n"
        "  cocoon sim --listen 0 --blank   a board with only MicroPython, on any free port\n"
        "  cocoon sim --speed max --until 28800 --scenario synthetic:bpm=55 --record-leds n.csv\n"
        "  cocoon sim --radio festival     (twice, with different --listen: two boards in radio "
        "range)"
    )
    link = p.add_argument_group("link")
    link.add_argument(
        "--listen",
        type=int,
        metavar="PORT",
        default=None,
        help=f"serve the serial link on socket://127.0.0.1:PORT (default {DEFAULT_PORT}; "
        "0: any free port)",
    )
    link.add_argument(
        "--pty",
        action="store_true",
        help="also (or, without --listen, only) serve it on a pseudo-terminal; prints its path",
    )
    link.add_argument(
        "--baud", type=int, metavar="N", help="limit the link to what N baud carries (8N1)"
    )
    fs = p.add_argument_group("filesystem")
    fs.add_argument(
        "--fs",
        type=Path,
        metavar="DIR",
        help="keep the board's filesystem in DIR (made, and given the firmware, if empty); "
        "default: a fresh temporary folder, removed at the end",
    )
    fs.add_argument(
        "--blank",
        action="store_true",
        help="start with an empty filesystem, like a board with only MicroPython on it",
    )
    world = p.add_argument_group("simulation")
    world.add_argument(
        "--speed",
        default="1",
        metavar="X|max",
        help="virtual clock: 1 = real time, X times faster, max = sleeps take no time",
    )
    world.add_argument(
        "--until", type=float, metavar="T", help="stop after T seconds of virtual time"
    )
    world.add_argument(
        "--scenario",
        default="",
        metavar="NAME[:k=v,...]",
        help="what the sensors feel (firmware/ports/sim/scenario.py; default synthetic; "
        "'none': no sensors on the bus)",
    )
    world.add_argument(
        "--record-leds",
        type=Path,
        metavar="FILE",
        help="write every frame sent to the strip as CSV: t_ms,r0,g0,b0,r1,...",
    )
    world.add_argument(
        "--radio",
        default="",
        metavar="NAME[:loss=P,delay_ms=D]",
        help="join virtual radio channel NAME (boards on the same channel hear each other)",
    )
    world.add_argument("--leds", type=int, default=leds, help=f"LEDs on the strip ({leds})")
    world.add_argument(
        "--wdt-ms",
        type=int,
        default=wdt_ms,
        metavar="MS",
        help=f"board.wdt timeout once the firmware feeds it ({wdt_ms}; 0: none)",
    )
    world.add_argument(
        "--id",
        type=lambda s: int(s, 0),
        metavar="N",
        help="board number 0..65535: its MAC / machine.unique_id() (default random)",
    )
    world.add_argument(
        "--start-time",
        metavar="ISO",
        help="calendar time at switch-on, e.g. 2026-03-01T22:30 (default: now)",
    )
    world.add_argument(
        "--ticks-offset-ms",
        type=int,
        default=0,
        metavar="MS",
        help="start ticks_ms() at MS instead of 0 (e.g. 1073700000: wraps 42 s after boot)",
    )
    world.add_argument(
        "--heap-kb",
        type=int,
        metavar="KB",
        help="the interpreter's heap (default 2048); the sim's own parts share it, and 64-bit "
        "objects take about twice the room they take on the ESP32",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log resets and link events")


def _parse_speed(text: str) -> int:
    if text.strip().lower() == "max":
        return 0
    try:
        x = float(text)
    except ValueError:
        x = -1.0
    if not 0.001 <= x <= 1e6:
        raise CocoonError(
            f"--speed {text!r} is not a speed", "give a factor like 1, 10, 0.5, or max"
        )
    return max(1, round(x * 1000))


def _parse_start(text: str | None) -> int:
    if not text:
        return int(time.time())
    try:
        t = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise CocoonError(
            f"--start-time {text!r} is not a date and time", "write it like 2026-03-01T22:30"
        ) from None
    if t.tzinfo is None:
        t = t.astimezone()  # local time, as a person means it
    return int(t.timestamp())


def prepare_fs(folder: Path | None, blank: bool) -> tuple[Path, bool]:
    """The board's folder, with the firmware in it unless blank; (folder, made_temporary)."""
    temporary = folder is None
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="cocoon-sim-"))
    elif folder.exists() and not folder.is_dir():
        raise CocoonError(f"--fs {folder} is a file", "give --fs a folder (it is made if missing)")
    else:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CocoonError(
                f"cannot make the board's folder {folder}: {e.strerror}",
                "give --fs a folder you can write to",
            ) from None
    try:
        if not blank and not any(folder.iterdir()):
            build.install_into_folder(folder, target="sim", march=build.unix_port_march())
    except BaseException:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder.resolve(), temporary


def options_from_args(args: argparse.Namespace, fs: Path) -> SimOptions:
    if args.baud is not None and not 50 <= args.baud <= 20_000_000:
        raise CocoonError(f"--baud {args.baud} is out of range", "use 50..20000000, e.g. 115200")
    if args.until is not None and args.until < 0:
        raise CocoonError("--until must be 0 or more seconds", "e.g. --until 60")
    if not 1 <= args.leds <= 2000:
        raise CocoonError(f"--leds {args.leds} is out of range", "use 1..2000")
    if args.id is not None and not 0 <= args.id <= 0xFFFF:
        raise CocoonError(f"--id {args.id} is out of range", "use 0..65535")
    if args.heap_kb is not None and not 64 <= args.heap_kb <= 1 << 20:
        raise CocoonError(f"--heap-kb {args.heap_kb} is out of range", "use 64..1048576")
    if args.wdt_ms < 0:
        raise CocoonError("--wdt-ms must be 0 (no watchdog) or more", "e.g. --wdt-ms 8000")
    if args.record_leds is not None and args.record_leds.is_dir():
        raise CocoonError(f"--record-leds {args.record_leds} is a folder", "give a file name")
    listen = args.listen
    if listen is None and not args.pty:
        listen = DEFAULT_PORT
    if listen is not None and not 0 <= listen <= 65535:
        raise CocoonError(f"--listen {listen} is not a port", "use 1024..65535, or 0")
    board_id = args.id if args.id is not None else secrets.randbelow(0x10000)
    return SimOptions(
        fs=fs,
        listen_port=listen,
        pty=args.pty,
        baud=args.baud,
        speed_milli=_parse_speed(args.speed),
        until_s=args.until,
        scenario=args.scenario,
        record_leds=args.record_leds.resolve() if args.record_leds else None,
        radio=args.radio,
        leds=args.leds,
        uid=bytes([0x02, 0xCC, 0x00, 0x00, board_id >> 8, board_id & 0xFF]),
        wdt_ms=args.wdt_ms,
        epoch_s=_parse_start(args.start_time),
        ticks_offset_ms=args.ticks_offset_ms,
        verbose=args.verbose,
        heap_kb=args.heap_kb,
    )


def run(args: argparse.Namespace) -> int:
    # Checked before anything is built: a bad option costs nothing.
    opts = options_from_args(args, Path("."))
    board = VirtualBoard(opts)
    board.open_link()  # a port already taken is reported before the firmware is compiled
    try:
        fs, temporary = prepare_fs(args.fs, args.blank)
    except BaseException:
        board.close()
        raise
    opts.fs = fs
    stop_signals = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
    old = {s: signal.getsignal(s) for s in stop_signals}
    for s, name in stop_signals.items():
        signal.signal(s, lambda *_a, _n=name: board.stop(_n))
    started = False
    try:
        board.boot()
        started = True
        lines = [board.url] if board.url else []
        if board.pty_path:
            lines.append(board.pty_path)
        print("\n".join(lines), flush=True)
        where = " and ".join(lines)
        print(
            f"cocoon sim: virtual board on {where}, filesystem {fs}"
            + (" (temporary)" if temporary else "")
            + "; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        board.serve()
        return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        board.close()
        if started:
            _summary(board, opts)
        if temporary:
            shutil.rmtree(fs, ignore_errors=True)


def _summary(board: VirtualBoard, opts: SimOptions) -> None:
    print(
        f"cocoon sim: stopped ({board.stop_reason or 'error'}): {board.bytes_to_host} bytes "
        f"to the host, {board.bytes_from_host} from it, {board.resets} resets"
        + (f", {board.frames} LED frames recorded" if opts.record_leds else ""),
        file=sys.stderr,
        flush=True,
    )


class SimProcess:
    """`cocoon sim` in a subprocess, for programs and tests: started, its URL read, always ended.

    with SimProcess(["--blank"]) as sim:   # adds --listen 0 unless args name a port or --pty
        sim.url                            # socket://127.0.0.1:PORT
    """

    def __init__(self, args: list[str] | None = None, timeout_s: float = 60.0, env=None):
        self.args = list(args or [])
        if "--listen" not in self.args and "--pty" not in self.args:
            self.args = ["--listen", "0", *self.args]
        self.timeout_s = timeout_s
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.stderr = ""

    def start(self) -> SimProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cocoon_host.cli", "sim", *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(ROOT),
            env=self.env,
        )
        line = self._first_line()
        if not line:
            err = self.stop()
            raise CocoonError(f"cocoon sim did not start: {err.strip() or 'no output'}")
        self.url = line
        return self

    def _first_line(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + self.timeout_s
        try:
            while b"\n" not in buf and time.monotonic() < deadline:
                if sel.select(0.2):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    buf += chunk
        finally:
            sel.close()
        return buf.split(b"\n", 1)[0].decode().strip() if b"\n" in buf else ""

    def stop(self, timeout_s: float = 20.0) -> str:
        """End it (SIGTERM, then SIGKILL); returns what it wrote on stderr."""
        p = self.proc
        if p is None:
            return self.stderr
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        self.stderr = (err or b"").decode("utf-8", "replace")
        self.proc = None
        return self.stderr

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            self.stop()
