"""`cocoon flash`: compile the firmware for the board, copy what changed, switch slots, reset.

    cocoon flash --port /dev/ttyUSB0              # a real ESP32 with MicroPython on it
    cocoon flash --port socket://127.0.0.1:7788   # a virtual board (cocoon sim)
    report = flash(url)                           # the same from Python (tests, the demo)

Steps (docs/design.md, Flashing): ask the board what it is (sys.platform, sys.implementation._mpy)
and hash every firmware file on it in one exec; compile for its architecture (esp32 -> ports/esp32
and the pin map; anything else is a virtual board -> target sim); fill the inactive slot /fw/a or
/fw/b, reusing files already on the board (copied board-side) and sending only new bytes; verify
the slot's hashes; write /fw/active.new and rename it over /fw/active (atomic on littlefs: a cable
pulled at any moment leaves the old or the new firmware active); hard-reset (a soft reset from the
raw REPL does not run main.py); wait for the HELLO frame and check its build id.

The link is mpremote's SerialTransport (raw REPL, raw-paste) over a port opened by
cocoon_host.port, so errors read the same as everywhere else in `cocoon`.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import serial
from cocoon import proto
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from . import build
from . import port as portmod
from .errors import CocoonError

SLOTS = ("a", "b")
# Raw bytes per exec when sending a file: base64 makes it 4/3 larger; raw-paste streams it.
CHUNK = 1536
MPY_VERSION = 6  # what mpy-cross 1.2x writes (py/persistentcode.h MPY_VERSION)
HELLO_TIMEOUT_S = 20.0

# Runs on the board: what it is, and the sha256 of every file in both slots and of boot/main.py.
PROBE = """\
import os, sys, hashlib, binascii
def _h(p):
    h = hashlib.sha256()
    b = bytearray(512)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b if n == 512 else b[:n])
    return binascii.hexlify(h.digest()).decode()
def _walk(d, out, pre):
    try:
        it = list(os.ilistdir(d))
    except OSError:
        return
    for e in it:
        if e[1] == 0x4000:
            _walk(d + '/' + e[0], out, pre + e[0] + '/')
        else:
            out[pre + e[0]] = _h(d + '/' + e[0])
_r = {'platform': sys.platform, 'mpy': getattr(sys.implementation, '_mpy', 0),
      'version': tuple(sys.implementation.version[:3]), 'active': None, 'root': {},
      'slots': {'a': {}, 'b': {}}, 'free': None}
try:
    with open('/fw/active') as f:
        _r['active'] = f.read().strip()
except OSError:
    pass
for _s in 'ab':
    _walk('/fw/' + _s, _r['slots'][_s], '')
for _n in ('boot.py', 'main.py'):
    try:
        _r['root'][_n] = _h('/' + _n)
    except OSError:
        pass
try:
    import deflate
    _r['deflate'] = hasattr(deflate, 'DeflateIO')
except ImportError:
    _r['deflate'] = False
try:
    _v = os.statvfs('/')
    _r['free'] = _v[0] * _v[3]
except (OSError, AttributeError):
    pass
print(repr(_r))
"""


# Files cross the link deflated when the board has MicroPython's `deflate` module (1.21+): raw
# deflate with a 1 KB window (wbits 10), so inflating needs 1 KB of RAM, not 32 KB; it sends ~33%
# fewer bytes than the .mpy files themselves (bench_flash.py measures the time).
DEFLATE_WBITS = 10
INFLATE = """\
import deflate, os
b = bytearray(512)
with open({src!r}, 'rb') as fi, open({dst!r}, 'wb') as fo:
    z = deflate.DeflateIO(fi, deflate.RAW, {wbits})
    while True:
        n = z.readinto(b)
        if not n:
            break
        fo.write(b if n == 512 else b[:n])
os.remove({src!r})
"""


def deflate_raw(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -DEFLATE_WBITS)
    return c.compress(data) + c.flush()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Transport(SerialTransport):
    """mpremote's SerialTransport over a port we opened (exclusive, DTR/RTS released, our errors).

    Sets the attributes SerialTransport.__init__ sets (mpremote==1.29.0, pinned); a test checks
    that they are still all it needs.
    """

    def __init__(self, ser: serial.SerialBase, url: str):  # replaces, not extends, the parent
        self.in_raw_repl = False
        self.use_raw_paste = True
        self.device_name = url
        self.mounted = False
        self.serial = ser
        self.is_pty = self._is_pty_device(url)


@dataclass
class Plan:
    target: str
    march: str | None
    slot: str
    files: list[tuple[str, bytes]]
    send: list[str] = field(default_factory=list)
    board_copy: list[tuple[str, str]] = field(default_factory=list)  # (from, to) board paths
    unchanged: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    root: list[tuple[str, bytes]] = field(default_factory=list)
    switch: bool = True
    build_id: str = ""

    def slot_bytes(self) -> int:
        sizes = dict(self.files)
        return sum(len(sizes[name]) for name in self.send)

    def send_bytes(self) -> int:
        return self.slot_bytes() + sum(len(d) for _, d in self.root)


@dataclass
class Report:
    url: str
    board: dict[str, Any]
    plan: Plan
    hello: dict[str, Any] | None = None
    seconds: float = 0.0
    hello_after_s: float = 0.0
    sent_bytes: int = 0


def describe_board(info: dict[str, Any]) -> str:
    arch = build.MPY_ARCH_NAMES.get(info["mpy"] >> 10) or "bytecode"
    version = ".".join(str(v) for v in info.get("version", ()))
    return (
        f"{info['platform']} board, MicroPython {version}, .mpy v{info['mpy'] & 0xFF} {arch}, "
        f"active slot {info['active'] or 'none'}"
    )


def make_plan(info: dict[str, Any], target: str | None = None) -> Plan:
    """Decide what to compile and copy, from what the board said about itself."""
    mpy = int(info.get("mpy") or 0)
    if mpy and (mpy & 0xFF) != MPY_VERSION:
        raise CocoonError(
            f"the board's MicroPython loads .mpy version {mpy & 0xFF}, this host makes "
            f"version {MPY_VERSION}",
            "install a current MicroPython (1.23 or later) on the board, see README",
        )
    arch = (mpy >> 10) & 0x3F
    if arch not in build.MPY_ARCH_NAMES:
        raise CocoonError(f"unknown native architecture {arch} on the board", "update mpremote")
    march = build.MPY_ARCH_NAMES[arch]
    target = target or ("esp32" if info.get("platform") == "esp32" else "sim")
    files = build.slot_files(target, march)
    bid = dict(files)[build.BUILD_FILE].decode().strip()
    want = {name: sha256_hex(data) for name, data in files}
    active = info.get("active") if info.get("active") in SLOTS else None
    slots = info.get("slots") or {}
    plan = Plan(target=target, march=march, slot="a", files=files, build_id=bid)
    for name, data in build.root_files():
        if (info.get("root") or {}).get(name) != sha256_hex(data):
            plan.root.append((name, data))
    if active and slots.get(active) == want:
        plan.slot = active
        plan.switch = False
        plan.unchanged = sorted(want)
        return plan
    plan.slot = "b" if active == "a" else "a"
    have = slots.get(plan.slot) or {}
    # A file the board already holds elsewhere (the active slot) is copied on the board.
    elsewhere: dict[str, str] = {}
    for slot in SLOTS:
        if slot != plan.slot:
            for name, digest in (slots.get(slot) or {}).items():
                elsewhere.setdefault(digest, f"/fw/{slot}/{name}")
    for name, digest in want.items():
        if have.get(name) == digest:
            plan.unchanged.append(name)
        elif digest in elsewhere:
            plan.board_copy.append((elsewhere[digest], f"/fw/{plan.slot}/{name}"))
        else:
            plan.send.append(name)
    plan.remove = sorted(f"/fw/{plan.slot}/{name}" for name in have if name not in want)
    return plan


class Flasher:
    def __init__(self, url: str, baud: int, out=None):
        self.url = url
        self.baud = baud
        self.out = out or sys.stdout
        self.t: Transport | None = None
        self.inflate = False  # set from the probe: can the board inflate?
        self.sent_bytes = 0  # file bytes that crossed the link (after deflate)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -------------------------------------------------------------------- link

    def connect(self) -> None:
        ser = portmod.open_port(self.url, self.baud, timeout_s=1.0)
        self.t = Transport(ser, self.url)
        if portmod.is_socket(self.url):
            # A virtual board that already has a client says "busy: ..." and hangs up.
            time.sleep(0.2)
            try:
                first = ser.read(ser.in_waiting) if ser.in_waiting else b""
            except serial.SerialException:
                first = b""
                self._closed_at_once()
            if first.startswith(b"busy"):
                self._closed_at_once()
        try:
            self.t.enter_raw_repl(soft_reset=True)
        except TransportError:
            raise CocoonError(
                f"the board at {self.url} does not answer like MicroPython's raw REPL",
                "check the baud rate, reset the board, and that MicroPython is installed "
                "(README: Flash a real board)",
            ) from None
        except (serial.SerialException, OSError):
            self._closed_at_once()

    def _closed_at_once(self) -> None:
        self.close()
        raise CocoonError(
            f"{self.url} closed the connection: the board already has a client",
            "close the other cocoon or mpremote session, then try again",
        )

    def exec(self, code: str) -> bytes:
        assert self.t is not None
        try:
            return self.t.exec(code)
        except TransportError as e:
            raise CocoonError(
                f"the board failed while flashing: {str(e).strip().splitlines()[-1]}",
                "run cocoon flash again; the firmware that was active stays active",
            ) from None
        except (serial.SerialException, OSError) as e:
            raise CocoonError(
                f"lost the link to {self.url} while flashing ({e})",
                "reconnect and run cocoon flash again; the old firmware stays active",
            ) from None

    def close(self) -> None:
        if self.t is not None:
            try:
                self.t.serial.close()
            except Exception:
                pass
            self.t = None

    # -------------------------------------------------------------------- steps

    def probe(self) -> dict[str, Any]:
        raw = self.exec(PROBE)
        try:
            info = ast.literal_eval(raw.decode().strip().splitlines()[-1])
        except (ValueError, SyntaxError, IndexError):
            raise CocoonError(
                f"unexpected answer from the board: {raw[:80]!r}", "reset it and try again"
            ) from None
        if not isinstance(info, dict):
            raise CocoonError("unexpected answer from the board", "reset it and try again")
        return info

    def apply(self, plan: Plan, free: int | None) -> None:
        slot_dir = f"/fw/{plan.slot}"
        need = plan.send_bytes()
        if free is not None and need > free:
            raise CocoonError(
                f"the board has {free // 1024} kB free, the firmware needs {need // 1024} kB more",
                "remove files you put on the board (mpremote fs ls / rm)",
            )
        data = dict(plan.files)
        dirs = {"/fw", slot_dir}
        for name in plan.send + [dst.split("/", 3)[3] for _, dst in plan.board_copy]:
            parts = name.split("/")[:-1]
            for i in range(len(parts)):
                dirs.add(slot_dir + "/" + "/".join(parts[: i + 1]))
        self.exec(
            "import os\n"
            f"for d in {sorted(dirs, key=len)!r}:\n"
            "    try:\n        os.mkdir(d)\n    except OSError:\n        pass\n"
            f"for p in {plan.remove!r}:\n"
            "    os.remove(p)\n"
        )
        if plan.board_copy:
            self.exec(
                f"for s, d in {plan.board_copy!r}:\n"
                "    with open(s, 'rb') as fi, open(d, 'wb') as fo:\n"
                "        b = bytearray(512)\n"
                "        while True:\n"
                "            n = fi.readinto(b)\n"
                "            if not n:\n                break\n"
                "            fo.write(b if n == 512 else b[:n])\n"
            )
        for name in plan.send:
            self.say(f"  copying {name} ({len(data[name])} bytes)")
            self.write_file(f"{slot_dir}/{name}", data[name])
        # Check every byte before switching: a damaged slot must never become active.
        info = self.probe()
        got = (info.get("slots") or {}).get(plan.slot) or {}
        want = {name: sha256_hex(content) for name, content in plan.files}
        if got != want:
            bad = sorted(n for n in set(want) | set(got) if want.get(n) != got.get(n))
            raise CocoonError(
                f"slot {plan.slot} does not match after copying ({', '.join(bad[:3])})",
                "run cocoon flash again; the old firmware is still active",
            )

    def write_file(self, path: str, content: bytes) -> None:
        """Write content to path on the board: deflated when the board can inflate and it pays."""
        packed = deflate_raw(content) if self.inflate else content
        if len(packed) > 0.9 * len(content):
            self.sent_bytes += len(content)
            self._send(path, content)
            return
        self.sent_bytes += len(packed)
        self._send(path + ".z", packed)
        self.exec(INFLATE.format(src=path + ".z", dst=path, wbits=DEFLATE_WBITS))

    def _send(self, path: str, content: bytes) -> None:
        self.exec(f"f = open({path!r}, 'wb')\nw = f.write\nfrom binascii import a2b_base64 as d")
        for i in range(0, len(content), CHUNK):
            self.exec(f"w(d({base64.b64encode(content[i : i + CHUNK]).decode()!r}))")
        self.exec("f.close()")

    def write_root(self, plan: Plan) -> None:
        for name, content in plan.root:
            self.say(f"  copying /{name} ({len(content)} bytes)")
            self.write_file(f"/{name}.new", content)
            self.exec(_replace(f"/{name}.new", f"/{name}"))

    def switch(self, slot: str) -> None:
        self.exec(
            f"with open('/fw/active.new', 'w') as f:\n    f.write({slot!r})\n"
            + _replace("/fw/active.new", "/fw/active")
            + "with open('/fw/boots', 'w') as f:\n    f.write('0\\n')\n"
        )

    def reset_and_wait_hello(self, timeout_s: float) -> tuple[dict[str, Any] | None, float, bytes]:
        """Hard reset (like `mpremote reset`), then read until a HELLO frame or timeout."""
        assert self.t is not None
        try:
            self.t.exec_raw_no_follow("import time, machine\ntime.sleep_ms(100)\nmachine.reset()")
        except (TransportError, serial.SerialException, OSError) as e:
            raise CocoonError(
                f"could not reset the board ({e})", "press its reset button; it is flashed"
            ) from None
        t0 = time.monotonic()
        parser = proto.Parser()
        tail = b""
        ser: serial.SerialBase | None = self.t.serial
        while time.monotonic() - t0 < timeout_s:
            if ser is None:  # native USB boards re-enumerate on reset: open again
                try:
                    ser = portmod.open_port(self.url, self.baud, timeout_s=0.2)
                    self.t.serial = ser
                except CocoonError:
                    time.sleep(0.2)
                    continue
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (serial.SerialException, OSError):
                ser.close()
                ser = None
                continue
            tail = (tail + data)[-2048:]
            for frame in parser.feed(data):
                if frame.type == proto.HELLO:
                    return frame.payload, time.monotonic() - t0, tail
            if tail.rstrip().endswith(b">>>"):
                break  # main.py ended at the REPL prompt without a HELLO: none will come
        return None, time.monotonic() - t0, tail


def _replace(src: str, dst: str) -> str:
    """Board code: rename src over dst (littlefs replaces atomically; FAT needs dst removed).

    Paths go relative to "/": the unix port's VfsPosix mounted at "/" (the virtual board) fails
    os.rename on absolute paths with ENOENT (MicroPython 1.28/1.29), relative ones work everywhere.
    """
    src, dst = src.lstrip("/"), dst.lstrip("/")
    return (
        "import os\nos.chdir('/')\n"
        f"try:\n    os.rename({src!r}, {dst!r})\n"
        f"except OSError:\n    os.remove({dst!r})\n    os.rename({src!r}, {dst!r})\n"
    )


def _hello_missing(url: str, timeout_s: float, tail: bytes) -> CocoonError:
    text = tail.decode("utf-8", "replace").replace("\r", "")
    lines = [line for line in text.split("\n") if line.strip()]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    what = f"the board did not send HELLO within {timeout_s:g} s after the reset"
    if tail.rstrip().endswith(b">>>"):
        what = "the firmware did not start after the reset (main.py ended without a HELLO)"
    if errors:
        return CocoonError(
            f"{what}: it stopped with {errors[-1].strip()!r}",
            "the new firmware is on the board but fails to start; fix it and flash again",
        )
    return CocoonError(
        what, f"see what it prints with `cocoon telemetry --port {url}` or mpremote repl"
    )


def flash(
    url: str,
    baud: int = portmod.DEFAULT_BAUD,
    dry_run: bool = False,
    timeout_s: float = HELLO_TIMEOUT_S,
    out=None,
) -> Report:
    t_start = time.monotonic()
    f = Flasher(url, baud, out)
    try:
        f.say(f"connecting to {url}")
        f.connect()
        info = f.probe()
        f.inflate = bool(info.get("deflate"))
        f.say(describe_board(info))
        plan = make_plan(info)
        size = sum(len(d) for _, d in plan.files)
        f.say(
            f"compiled {len(plan.files)} files for {plan.target} ({plan.march or 'bytecode'}), "
            f"{size / 1024:.1f} kB, build {plan.build_id}"
        )
        if not plan.switch:
            f.say(f"build {plan.build_id} is already active in slot {plan.slot}: nothing to copy")
        else:
            f.say(
                f"slot {plan.slot}: {len(plan.send)} files to send "
                f"({plan.slot_bytes() / 1024:.1f} kB), {len(plan.board_copy)} copied on the "
                f"board, {len(plan.unchanged)} unchanged, {len(plan.remove)} to remove"
            )
        if plan.root:
            f.say(f"root: {', '.join(name for name, _ in plan.root)} changed")
        report = Report(url=url, board=info, plan=plan)
        if dry_run:
            f.say("dry run: nothing written; restarting the board")
            f.reset_and_wait_hello(0)
            report.seconds = time.monotonic() - t_start
            return report
        if plan.switch:
            f.apply(plan, info.get("free"))
        f.write_root(plan)
        if plan.switch:
            f.switch(plan.slot)
            f.say(f"switched /fw/active to {plan.slot}")
        f.say("hard reset; waiting for HELLO")
        hello, after_s, tail = f.reset_and_wait_hello(timeout_s)
        if hello is None:
            raise _hello_missing(url, timeout_s, tail)
        report.hello = hello
        report.hello_after_s = after_s
        report.sent_bytes = f.sent_bytes
        report.seconds = time.monotonic() - t_start
        if hello.get("build") != plan.build_id:
            raise CocoonError(
                f"the board started build {hello.get('build')}, not {plan.build_id}",
                "its boot.py may be an old one: run cocoon flash again",
            )
        return report
    finally:
        f.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="socket://HOST:PORT, /dev/ttyUSB0, COM3, ...")
    p.add_argument("--baud", type=int, default=portmod.DEFAULT_BAUD, help="serial baud rate")
    p.add_argument(
        "--dry-run", action="store_true", help="show what would be copied; copy nothing"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=HELLO_TIMEOUT_S,
        metavar="S",
        help=f"how long to wait for HELLO after the reset (default {HELLO_TIMEOUT_S:g})",
    )


def run(args: argparse.Namespace) -> int:
    report = flash(args.port, args.baud, args.dry_run, args.timeout)
    plan = report.plan
    if args.dry_run:
        print(f"dry run done in {report.seconds:.1f} s")
        return 0
    h = report.hello or {}
    extra = f", SAFE MODE: {h['safe']}" if h.get("safe") else ""
    print(
        f"HELLO from the board: firmware {h.get('fw')}, build {h.get('build')}, "
        f"port {h.get('port')}, {h.get('leds')} LEDs ({report.hello_after_s:.1f} s after reset)"
        + extra
    )
    copied = len(plan.send) + len(plan.root)
    print(
        f"flashed in {report.seconds:.1f} s: {copied} files sent "
        f"({plan.send_bytes() / 1024:.1f} kB, {report.sent_bytes / 1024:.1f} kB over the link), "
        f"{len(plan.board_copy)} copied on the board, {len(plan.unchanged)} unchanged"
    )
    return 0
