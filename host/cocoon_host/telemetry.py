"""`cocoon telemetry`: show, print or record a board's live telemetry (frames of cocoon/proto.py).

    cocoon telemetry --port socket://127.0.0.1:7788                # live view in the terminal
    cocoon telemetry --port /dev/ttyUSB0 --plain --record night.jsonl --seconds 60

The live view redraws in place (ANSI) when stdout is a terminal, with colour unless NO_COLOR is
set; otherwise one readable line per frame. --plain prints one JSON object per frame. --record
appends the same objects as JSON lines, flushed line by line, so a pulled cable loses nothing
recorded. The link reconnects by itself when the board resets or the cable comes back (like
esp-idf-monitor), with a status line; Ctrl-C ends cleanly.

For other tools (e.g. `cocoon night`): `watch(url, on_frame, seconds=...)` runs the same loop,
`Recorder(path)` writes the same records, `read_records(path)` reads them back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import serial
from cocoon import proto

from . import port as portmod
from .errors import CocoonError

RECONNECT_EVERY_S = 0.5
# A socket that closes this soon, before any byte, is a board refusing a second client.
REFUSED_WITHIN_S = 1.0
# One read takes what has arrived, in blocks of this size (not one call per byte).
READ_BLOCK = 4096
READ_MAX = 1 << 20  # at most this much per read, so a flood cannot starve the view


def frame_record(frame: proto.Frame, t: float) -> dict[str, Any]:
    """What --plain prints and --record writes for one frame: host time first, then the frame."""
    rec: dict[str, Any] = {"t": round(t, 3)}
    rec.update(frame.to_dict())
    return rec


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a --record file; a torn last line (cable pulled mid-write) is skipped."""
    with open(path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                yield rec


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class Recorder:
    """Appends one JSON object per line and flushes each line to the operating system."""

    def __init__(self, path: Path):
        self.path = path
        try:
            torn = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
            self._f: TextIO | None = open(path, "a", encoding="utf-8")
        except OSError as e:
            raise CocoonError(
                f"cannot write {path} ({e.strerror})", "choose a file in a writable folder"
            ) from None
        if torn:  # the last run was cut mid-line: start ours on a line of its own
            self._f.write("\n")
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        if self._f is None:
            return
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._f.flush()
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            try:
                os.fsync(self._f.fileno())
            except OSError:
                pass
            self._f.close()
            self._f = None


class Link:
    """A serial link that reopens itself after the board resets or the cable is pulled."""

    def __init__(self, url: str, baud: int, on_status: Callable[[str, str], None]):
        self.url = url
        self.baud = baud
        self.on_status = on_status
        self.ser: serial.SerialBase | None = None
        self.up = False
        self.bytes_in = 0
        self._first = b""
        self._opened_at = 0.0
        self._next_try = 0.0
        self.connects = 0
        self.reads = 0  # calls that returned data (bytes_in / reads: the mean block)
        # pyserial's socket:// counts only 0 or 1 byte waiting (a select), a UART driver all
        self._socket = url.startswith("socket://")
        self._pending: Exception | None = None  # a link error behind data already returned

    def open(self) -> None:
        """First open: failures are the user's to fix (CocoonError)."""
        self.ser = portmod.open_port(self.url, self.baud)
        self._opened(first=True)

    def _opened(self, first: bool) -> None:
        self.up = True
        self.connects += 1
        self._opened_at = time.monotonic()
        self.on_status("connected" if first else "reconnected", self.url)

    def _lost(self, why: str) -> None:
        quick = time.monotonic() - self._opened_at < REFUSED_WITHIN_S
        # A virtual board with a client already says "busy: ..." and hangs up; others just hang up.
        refused = self.bytes_in == 0 or self._first.startswith(b"busy")
        if self.connects == 1 and refused and quick and portmod.is_socket(self.url):
            self.close()
            raise CocoonError(
                f"{self.url} closed the connection at once: the board already has a client",
                "close the other cocoon or mpremote session, then try again",
            )
        self.close()
        self.up = False
        self._next_try = time.monotonic() + RECONNECT_EVERY_S
        self.on_status("lost", f"{why}; waiting for the board to come back")

    def read(self) -> bytes:
        """Whatever arrived (b"" if nothing within ~0.1 s or while the link is down)."""
        if not self.up:
            if time.monotonic() < self._next_try:
                time.sleep(0.05)
                return b""
            try:
                self.ser = portmod.open_port(self.url, self.baud)
            except CocoonError:
                self._next_try = time.monotonic() + RECONNECT_EVERY_S
                return b""
            self._opened(first=False)
        assert self.ser is not None
        try:
            data = self._read_block(self.ser)
        except (serial.SerialException, OSError) as e:
            self._lost(str(e) or type(e).__name__)
            return b""
        if self.bytes_in < 64:
            self._first += data[: 64 - self.bytes_in]
        self.bytes_in += len(data)
        self.reads += 1 if data else 0
        return data

    def _read_block(self, ser: serial.SerialBase) -> bytes:
        """Wait up to the port's timeout (0.1 s) for a first byte, then take everything that is
        already there. An error after some bytes arrived (the board hung up right after its last
        frame) is raised by the next call, so those bytes are not lost."""
        if self._pending is not None:
            e, self._pending = self._pending, None
            raise e
        first = ser.read(1)
        if not first:
            return first
        buf = bytearray(first)
        try:
            waiting = ser.in_waiting
            if waiting and not self._socket:
                buf += ser.read(min(waiting, READ_MAX))  # a UART driver counts its buffer
            elif waiting:
                # socket:// (in_waiting is a select: 0 or 1): drain without waiting, one recv of
                # up to READ_BLOCK bytes per read(), until nothing more is there
                timeout = ser.timeout
                ser.timeout = 0
                try:
                    while len(buf) < READ_MAX:
                        more = ser.read(READ_BLOCK)
                        if not more:
                            break
                        buf += more
                finally:
                    ser.timeout = timeout
        except (serial.SerialException, OSError) as e:
            self._pending = e
        return bytes(buf)

    def write(self, data: bytes) -> bool:
        if not self.up or self.ser is None:
            return False
        try:
            self.ser.write(data)
            return True
        except (serial.SerialException, OSError) as e:
            self._lost(str(e))
            return False

    def close(self) -> None:
        if self.ser is not None:
            try:
                self.ser.close()
            except Exception:
                pass
            self.ser = None


def _no_frames_error(url: str, waited_s: float, tail: bytes) -> CocoonError:
    joined = tail.decode("utf-8", "replace").replace("\r", "")
    text = [line for line in joined.split("\n") if line.strip()]
    what = f"no telemetry from {url} in {waited_s:g} s"
    if "Traceback" in joined or "Error" in joined:
        last = next(
            (t for t in reversed(text) if "Error" in t or "Exception" in t),
            text[-1] if text else "",
        )
        return CocoonError(
            f"{what}: the firmware stopped with {last.strip()!r}",
            "fix it and run `cocoon flash`, or see the board's output with mpremote",
        )
    if ">>>" in joined or "raw REPL" in joined:
        return CocoonError(f"{what}: the board is at the REPL", "reset it, or run `cocoon flash`")
    return CocoonError(
        what, f"is the Chrono-Cocoon firmware on it? flash it with `cocoon flash --port {url}`"
    )


def watch(
    url: str,
    on_frame: Callable[[proto.Frame, float], None],
    *,
    seconds: float | None = None,
    wait_s: float = 10.0,
    baud: int = portmod.DEFAULT_BAUD,
    on_status: Callable[[str, str], None] | None = None,
    on_idle: Callable[[], None] | None = None,
    parser: proto.Parser | None = None,
    ask_hello: bool = True,
) -> proto.Parser:
    """Read frames from url until `seconds` pass (None: until Ctrl-C), reconnecting as needed.

    Raises CocoonError if the port cannot be opened or no frame arrives within wait_s. With
    ask_hello, a board joined while running is asked (one `hello` command) for its HELLO frame.
    """
    parser = parser or proto.Parser()
    link = Link(url, baud, on_status or (lambda kind, msg: None))
    link.open()
    start = time.monotonic()
    tail = b""  # the last bytes received, to say what the board does instead of telemetry
    asked = False
    try:
        while True:
            now = time.monotonic()
            if seconds is not None and now - start >= seconds:
                break
            if parser.frames == 0 and now - start >= wait_s:
                raise _no_frames_error(url, wait_s, tail)
            connects = link.connects
            data = link.read()
            if link.connects != connects:
                asked = False  # a new connection: the board may have restarted
            if data:
                t = time.time()
                for frame in parser.feed(data):
                    if frame.type == proto.HELLO:
                        asked = True
                    elif frame.type == proto.STATE and not asked and ask_hello:
                        # Joined a running board: ask for the HELLO we missed. Only once STATE
                        # frames arrive, so the line goes to the app, never into a REPL.
                        link.write(proto.command(0, "hello"))
                        asked = True
                    on_frame(frame, t)
                if parser.frames == 0:
                    tail = (tail + data)[-2048:]
            if on_idle is not None:
                on_idle()
        if parser.frames == 0:
            raise _no_frames_error(url, seconds or 0, tail)
    finally:
        link.close()
    return parser


# ------------------------------------------------------------------------------------ views


def _fmt_uptime(seconds: int) -> str:
    d, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{d}d " if d else "") + f"{h}:{m:02d}:{s:02d}"


def _fmt_bytes(n: Any) -> str:
    if not isinstance(n, int):
        return "?"
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.0f} kB"


def _hex_rgb(text: Any) -> tuple[int, int, int] | None:
    if isinstance(text, str) and len(text) == 6:
        try:
            return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
        except ValueError:
            return None
    return None


KNOWN_STATE_KEYS = {"up_s", "loop", "heap", "led", "sensors", "errs"}
# STATE objects shown as a readable line each; any other key is shown as its JSON.
READABLE_STATE_KEYS = {"heart", "sync", "sleep", "radio"}


def heart_text(h: dict[str, Any]) -> str:
    """STATE's heart object (cocoon/sensors.py): "no reading" rather than a wrong number."""
    if h.get("finger") is False:
        parts = ["no contact"]
    elif h.get("hr") is None:
        parts = [f"no reading (quality {h.get('q', 0)}%)"]
    else:
        parts = [f"{h['hr']:.1f} bpm", f"quality {h.get('q', 0)}%"]
        if h.get("rmssd"):
            parts.append(f"RMSSD {h['rmssd']} ms")
    if h.get("act") is not None:
        parts.append(f"motion {h['act']}")
    return " · ".join(parts)


def sync_text(y: dict[str, Any]) -> str:
    """STATE's sync object (cocoon/core/phasesync.py): what the pulse follows, and how well."""
    mhz = y.get("pulse_mhz") or 0
    parts = [
        f"{y.get('mode', '?')} · {y.get('lock', '?')}",
        f"pulse {mhz / 1000:.2f} Hz ({mhz * 60 / 1000:.1f}/min)",
    ]
    if y.get("lock") == "locked" and y.get("err_q16") is not None:
        parts.append(f"last beat error {abs(y['err_q16']) * 100 / 65536:.1f}% of a beat")
    if y.get("peers"):
        parts.append(f"{y['peers']} peers")
    return " · ".join(parts)


def sleep_text(z: dict[str, Any]) -> str:
    """STATE's sleep object (app.sleep_payload): stage, night so far, smart-wake alarm."""
    stage = z.get("stage") or "not staged yet"
    parts = [
        stage,
        f"night {_fmt_uptime(int(z.get('night_s') or 0))}",
        f"{z.get('epochs', 0)} epochs",
    ]
    a = z.get("alarm")
    if a:
        text = f"alarm {a.get('state')} in {_fmt_uptime(max(0, int(a.get('in_s') or 0)))}"
        if a.get("sunrise_pct") is not None:
            text += f", sunrise {a['sunrise_pct']}%"
        parts.append(text)
    return " · ".join(parts)


class View:
    """Shared state of the human views: the latest HELLO and STATE, recent events and errors."""

    def __init__(self, url: str, color: bool):
        self.url = url
        self.color = color
        self.hello: dict[str, Any] = {}
        self.state: dict[str, Any] = {}
        self.frame_types: dict[str, dict[str, Any]] = {}
        self.events: deque[str] = deque(maxlen=4)
        self.errors: deque[str] = deque(maxlen=4)
        self.status = "connecting"
        self.status_detail = ""
        self.last_frame_t = 0.0
        self.stats: dict[str, int] = {}

    def c(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def on_frame(self, frame: proto.Frame, t: float) -> None:
        self.last_frame_t = time.monotonic()
        stamp = time.strftime("%H:%M:%S", time.localtime(t))
        p = frame.payload
        if frame.type == proto.HELLO:
            self.hello = p
        elif frame.type == proto.STATE:
            self.state = p
        elif frame.type == proto.EVENT:
            detail = " ".join(f"{k}={v}" for k, v in p.items() if k != "ev")
            self.events.append(f"{stamp} {p.get('ev', '?')} {detail}")
        elif frame.type == proto.ERR:
            self.errors.append(f"{stamp} {p.get('code', '?')}: {p.get('msg', '')}")
        else:
            self.frame_types[frame.type] = p  # EPOCH and whatever comes later

    def on_status(self, kind: str, detail: str) -> None:
        self.status, self.status_detail = kind, detail

    def strip_blocks(self, rgb: list[Any]) -> str:
        out = []
        for text in rgb:
            c = _hex_rgb(text)
            if c is None:
                continue
            if not self.color:
                out.append(text)
                continue
            peak = max(c)
            if peak == 0:
                out.append(self.c("2", "··"))
                continue
            # Night colours are too dim to see on a screen: keep the hue, show it at full value.
            r, g, b = (v * 255 // peak for v in c)
            out.append(f"\x1b[38;2;{r};{g};{b}m██\x1b[0m")
        return " ".join(out)

    def radio_text(self, r: dict[str, Any]) -> str:
        """STATE's radio object (cocoon/festival.py) in one line."""
        head = f"id {r.get('id')} group {r.get('group')}"
        if not r.get("on"):
            return f"{head}: sync off"
        if not r.get("festival"):
            return f"{head}: idle outside festival mode ({r.get('rx_idle', 0)} packets ignored)"
        parts = [head, f"{r.get('peers', 0)} peers", f"lead {r.get('lead')}"]
        if r.get("tempo"):
            parts.append(f"{r['tempo']:g}/min")
        if r.get("r") is not None:
            parts.append(f"r {r['r']:.2f}")
        parts.append(f"tx {r.get('tx', 0)} rx {r.get('rx', 0)}")
        dropped = {k: v for k, v in (r.get("rej") or {}).items() if v}
        if dropped:
            parts.append("dropped " + " ".join(f"{k} {v}" for k, v in dropped.items()))
        text = " · ".join(parts)
        if r.get("demo_key"):
            text += "  " + self.c("33", "demo key: set your group's own sync_key")
        return text

    def lines(self) -> list[str]:
        h, s = self.hello, self.state
        label = lambda t: self.c("2", f"{t:<9}")  # noqa: E731
        status = {
            "connected": self.c("32", "● connected"),
            "reconnected": self.c("32", "● reconnected"),
            "lost": self.c("33", "○ " + self.status_detail),
        }.get(self.status, self.status)
        out = [f"{self.c('1', 'Chrono-Cocoon')}  {self.url}  {status}"]
        if h:
            out.append(
                f"{label('firmware')}{h.get('fw', '?')}  build {h.get('build', '?')}  "
                f"port {h.get('port', '?')}  {h.get('leds', '?')} LEDs  protocol {h.get('proto')}"
            )
            if h.get("safe"):
                out.append(self.c("31", f"{'SAFE MODE':<9}{h['safe']}"))
        if s:
            loop = s.get("loop") or {}
            heap = s.get("heap") or {}
            out.append(
                f"{label('uptime')}{_fmt_uptime(s.get('up_s', 0)):<12}"
                f"loop {loop.get('mean_us', 0) / 1000:.2f} ms mean · "
                f"{loop.get('max_us', 0) / 1000:.2f} ms max · {loop.get('hz', 0)} Hz   "
                f"heap {_fmt_bytes(heap.get('free'))} free"
            )
            led = s.get("led") or {}
            extra = ""
            if led.get("stage"):
                extra += f"  stage {led['stage']}"
            if led.get("ma") is not None:
                extra += f"  {led['ma']} mA"
            if led.get("flash_limited"):
                extra += "  " + self.c("33", f"flash-limited {led['flash_limited']}")
            out.append(
                f"{label('light')}{led.get('mode', '?')}  bri {led.get('bri', '?')}  "
                f"{self.strip_blocks(led.get('rgb') or [])}{extra}"
            )
            sensors = s.get("sensors") or {}
            if sensors:
                parts = [
                    f"{k} " + (self.c("32", v) if v == "ok" else self.c("31", str(v)))
                    for k, v in sensors.items()
                ]
                out.append(f"{label('sensors')}{' · '.join(parts)}")
            for key, text in (
                ("heart", heart_text), ("sync", sync_text), ("sleep", sleep_text),
                ("radio", self.radio_text),
            ):  # fmt: skip
                if s.get(key):
                    out.append(f"{label(key)}{text(s[key])}")
            for key, value in s.items():
                if key not in KNOWN_STATE_KEYS and key not in READABLE_STATE_KEYS:
                    out.append(f"{label(key)}{json.dumps(value, separators=(',', ':'))}")
        for ftype, p in self.frame_types.items():
            out.append(f"{label(ftype.lower())}{json.dumps(p, separators=(',', ':'))}")
        ago = time.monotonic() - self.last_frame_t if self.last_frame_t else None
        st = self.stats
        out.append(
            f"{label('link')}{st.get('frames', 0)} frames · {st.get('damaged', 0)} damaged · "
            f"{st.get('lost', 0)} lost · {st.get('reboots', 0)} restarts"
            + (f" · last {ago:.1f} s ago" if ago is not None else "")
        )
        for e in self.events:
            out.append(f"{label('event')}{e}")
        for e in self.errors:
            out.append(f"{label('error')}{self.c('31', e)}")
        return out


class LiveView(View):
    """Redraws the whole view in place, at most 10 times a second."""

    def __init__(self, url: str, color: bool, stream: TextIO, footer: str):
        super().__init__(url, color)
        self.stream = stream
        self.footer = footer
        self._drawn = 0
        self._next_draw = 0.0

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_draw:
            return
        self._next_draw = now + 0.1
        width = shutil.get_terminal_size((100, 24)).columns
        lines = [_clip(line, width) for line in self.lines() + [self.c("2", self.footer)]]
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.stream.write(up + "\x1b[J" + "\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)

    def start(self) -> None:
        self.stream.write("\x1b[?25l")  # hide the cursor while redrawing

    def stop(self) -> None:
        self.draw(force=True)
        self.stream.write("\x1b[?25h")
        self.stream.flush()


def _clip(line: str, width: int) -> str:
    """Cut a line to the terminal width, not counting ANSI escape sequences."""
    out, visible, i = [], 0, 0
    while i < len(line):
        if line[i] == "\x1b":
            j = line.find("m", i)
            j = len(line) - 1 if j < 0 else j
            out.append(line[i : j + 1])
            i = j + 1
            continue
        if visible >= width - 1:
            out.append("…\x1b[0m" if "\x1b" in line else "…")
            break
        out.append(line[i])
        visible += 1
        i += 1
    return "".join(out)


class LogView(View):
    """One readable line per frame, for a pipe or a file (no ANSI)."""

    def __init__(self, url: str, stream: TextIO):
        super().__init__(url, color=False)
        self.stream = stream

    def on_frame(self, frame: proto.Frame, t: float) -> None:
        super().on_frame(frame, t)
        stamp = time.strftime("%H:%M:%S", time.localtime(t))
        p = frame.payload
        if frame.type == proto.STATE:
            loop = p.get("loop") or {}
            led = p.get("led") or {}
            text = (
                f"up {_fmt_uptime(p.get('up_s', 0))} loop {loop.get('mean_us', 0) / 1000:.2f}/"
                f"{loop.get('max_us', 0) / 1000:.2f} ms {loop.get('hz', 0)} Hz heap "
                f"{_fmt_bytes((p.get('heap') or {}).get('free'))} light {led.get('mode')} "
                f"{led.get('bri')} {' '.join(led.get('rgb') or [])}"
            )
            rest = {k: v for k, v in p.items() if k not in KNOWN_STATE_KEYS | {"led", "loop"}}
            if p.get("sensors"):
                rest["sensors"] = p["sensors"]
            if rest:
                text += " " + json.dumps(rest, separators=(",", ":"))
        else:
            text = json.dumps(p, separators=(",", ":"))
        self.stream.write(f"{stamp} {frame.type:<5} {text}\n")
        self.stream.flush()

    def on_status(self, kind: str, detail: str) -> None:
        super().on_status(kind, detail)
        if kind != "connected":  # only changes are news: the first connection is not
            print(f"--- {kind}: {detail}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------ command


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", required=True, help="socket://HOST:PORT, /dev/ttyUSB0, COM3, ...")
    p.add_argument("--baud", type=int, default=portmod.DEFAULT_BAUD, help="serial baud rate")
    p.add_argument("--plain", action="store_true", help="print one JSON object per frame")
    p.add_argument("--record", type=Path, metavar="FILE", help="append JSON lines to FILE")
    p.add_argument("--seconds", type=float, metavar="N", help="stop after N seconds")
    p.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="S",
        help="give up if no frame arrives within S seconds (default 10)",
    )


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def run(args: argparse.Namespace) -> int:
    if args.seconds is not None and args.seconds <= 0:
        raise CocoonError("--seconds must be positive", "e.g. --seconds 30")
    recorder = Recorder(args.record) if args.record else None
    out = sys.stdout
    live: LiveView | None = None
    view: View | None = None
    if args.plain:
        view = None
    elif out.isatty() and os.environ.get("TERM") != "dumb":
        footer = "Ctrl-C to quit" + (f" · recording to {args.record}" if recorder else "")
        live = LiveView(args.port, use_color(out), out, footer)
        view = live
    else:
        view = LogView(args.port, out)

    def on_frame(frame: proto.Frame, t: float) -> None:
        rec = frame_record(frame, t)
        if recorder is not None:
            recorder.write(rec)
        if args.plain:
            out.write(json.dumps(rec) + "\n")
            out.flush()
        elif view is not None:
            view.on_frame(frame, t)
            view.stats = parser.stats()

    def on_status(kind: str, detail: str) -> None:
        if view is not None:
            view.on_status(kind, detail)
        elif kind != "connected":
            print(f"--- {kind}: {detail}", file=sys.stderr, flush=True)

    def on_idle() -> None:
        if live is not None:
            live.draw()

    parser = proto.Parser()
    if live is not None:
        live.start()
    try:
        watch(
            args.port,
            on_frame,
            seconds=args.seconds,
            wait_s=args.wait,
            baud=args.baud,
            on_status=on_status,
            on_idle=on_idle,
            parser=parser,
        )
    except KeyboardInterrupt:
        pass  # Ctrl-C: a normal way to stop watching
    finally:
        if live is not None:
            live.stop()
        if recorder is not None:
            recorder.close()
    st = parser.stats()
    summary = (
        f"{st['frames']} frames, {st['damaged']} damaged, {st['lost']} lost, "
        f"{st['reboots']} restarts"
    )
    if recorder is not None:
        summary += f"; {recorder.count} recorded to {args.record}"
    print(summary, file=sys.stderr)
    return 0
