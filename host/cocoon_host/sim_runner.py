"""The engine of `cocoon sim`: one virtual board, its link to the host, and its resets.

    board = VirtualBoard(SimOptions(fs=Path("board-fs"), listen_port=0))
    board.start(); print(board.url); board.serve()   # until stop(), SIGTERM, or --until

The runner (CPython) owns the link: a TCP socket on 127.0.0.1 that pyserial opens as
`socket://127.0.0.1:PORT`, and/or a pty. It runs the firmware in a child process,
`micropython firmware/ports/sim/supervisor.py ...`, whose stdin/stdout are the board's USB serial,
and restarts that child at every reset. Between runner and child (firmware/ports/sim/hostctl.py):
- stdin/stdout: the serial bytes, nothing else (stderr joins stdout: a board has one serial line);
- a control pipe (child -> runner): run/idle/intr/reset/until/fatal/ready lines;
- an ack pipe (runner -> child): `ack N` answers `idle N`;
- a record pipe (child -> runner, with --record-leds): 8-byte world time (us) + 3n bytes per frame.
Ctrl-C from the host becomes SIGINT while user code runs (MicroPython raises KeyboardInterrupt,
also out of a blocking read), and stays a byte while the REPL reads. --baud paces both directions
at baud/10 bytes per second (8N1: a start bit, 8 data bits, a stop bit) with backpressure, not
loss.
Only one client at a time: a second one is told `busy` in one line and disconnected, as a serial
port opened exclusively refuses a second program.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from .errors import CocoonError

ROOT = Path(__file__).resolve().parents[2]
SIM_PORT_DIR = ROOT / "firmware" / "ports" / "sim"
SUPERVISOR = SIM_PORT_DIR / "supervisor.py"

F_SETPIPE_SZ = 1031  # linux/fcntl.h
PIPE_BYTES = 4096  # a small pipe: the board feels the link's backpressure, as a UART's TX buffer
QUEUE_LIMIT = 4096  # bytes held by the runner per direction before it stops reading
PTY_QUEUE_LIMIT = 65536  # a pty nobody reads: beyond this, old output is dropped
SIGINT_SPACING_S = 0.25  # MicroPython's unix port exits on a 2nd SIGINT before the 1st is handled
CRASH_WINDOW_S = 30.0
CRASH_LIMIT = 5
READY_TIMEOUT_S = 60.0
BUSY_LINE = b"busy: another client is connected to this virtual board; close it and retry\r\n"
PR_SET_PDEATHSIG = 1


@dataclass
class SimOptions:
    fs: Path
    listen_port: int | None = 7788  # None: no socket (pty only)
    pty: bool = False
    baud: int | None = None
    speed_milli: int = 1000  # 0: as fast as the CPU allows
    until_s: float | None = None
    scenario: str = ""
    record_leds: Path | None = None
    radio: str = ""
    leds: int = 60
    uid: bytes = b"\x02\xcc\x00\x00\x00\x01"
    wdt_ms: int = 8000
    epoch_s: int = 0
    ticks_offset_ms: int = 0
    verbose: bool = False
    micropython: str = ""
    heap_kb: int | None = None  # the interpreter's heap; None: the unix port's default (2 MB)


def micropython_exe() -> str:
    exe = Path(sys.executable).parent / "micropython"
    if not exe.exists():
        raise CocoonError("the MicroPython unix port is not installed", "run `make setup`")
    return str(exe)


class Pacer:
    """The line's own clock: a byte goes when the line would have finished sending the one before.

    line_t is when the line is free again. While bytes wait, it runs on by 1/rate per byte even if
    the runner wakes up late (it catches up, so the throughput is exact); once nothing waits, it is
    brought up to now, so an idle line gives no burst: a byte takes its 10 bits of time, as a UART.
    """

    def __init__(self, rate_bps: float | None):
        self.rate = rate_bps
        self.line_t = time.monotonic()

    def idle(self, now: float) -> None:
        self.line_t = max(self.line_t, now)

    def allowance(self, now: float) -> int:
        if self.rate is None:
            return 1 << 30
        return int((now - self.line_t) * self.rate)

    def consume(self, n: int) -> None:
        if self.rate is not None:
            self.line_t += n / self.rate

    def wait_s(self, now: float) -> float:
        """Time until one more byte may go."""
        if self.rate is None:
            return 0.0
        return max(0.0002, self.line_t + 1.0 / self.rate - now)


def _set_pdeathsig() -> None:
    # The board dies with its runner, even if the runner is killed with SIGKILL.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Child:
    """One interpreter of the board, from one reset to the next."""

    def __init__(
        self, opts: SimOptions, *, boot: str, mode: str, cause: str, world_us: int, boot_us: int
    ):
        self.boot = boot
        # "boot" until the board says whether user code runs ("run": Ctrl-C is SIGINT) or its REPL
        # reads ("idle": Ctrl-C is a byte). Input that arrives while it boots waits, as in a UART
        # buffer: a Ctrl-C sent into a starting main.py must interrupt it, not feed its commands.
        self.state = "boot"
        self.intr = 3
        self.ready = False
        self.last_sigint = 0.0
        ctl_r, ctl_w = os.pipe()
        ack_r, ack_w = os.pipe()
        rec_r, rec_w = os.pipe() if opts.record_leds else (-1, -1)
        heap = ["-X", f"heapsize={opts.heap_kb}k"] if opts.heap_kb else []
        args = [
            opts.micropython or micropython_exe(),
            *heap,
            str(SUPERVISOR),
            "--fs", str(opts.fs),
            "--ctl", str(ctl_w),
            "--ack", str(ack_r),
            "--record-fd", str(rec_w),
            "--mode", mode,
            "--boot", boot,
            "--cause", cause,
            "--speed", str(opts.speed_milli),
            "--world-us", str(world_us),
            "--boot-us", str(boot_us),
            "--until-us", str(-1 if opts.until_s is None else int(opts.until_s * 1e6)),
            "--epoch", str(opts.epoch_s),
            "--ticks0-ms", str(opts.ticks_offset_ms),
            "--leds", str(opts.leds),
            "--scenario", opts.scenario or "",
            "--radio", opts.radio or "",
            "--uid", opts.uid.hex(),
            "--wdt-ms", str(opts.wdt_ms),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "MICROPYPATH"}
        fds = [fd for fd in (ctl_w, ack_r, rec_w) if fd >= 0]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=fds,
            start_new_session=True,  # a Ctrl-C in the runner's terminal is not the board's
            preexec_fn=_set_pdeathsig,
            cwd=str(ROOT),
            env=env,
        )
        for fd in fds:
            os.close(fd)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin.fileno()
        self.stdout = self.proc.stdout.fileno()
        self.ctl = ctl_r
        self.ack = ack_w
        self.rec = rec_r
        for fd in (self.stdout, self.stdin):
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)
        for fd in (self.stdin, self.stdout, self.ctl, self.rec):
            if fd >= 0:
                os.set_blocking(fd, False)
        self.ctl_buf = b""
        self.rec_buf = b""

    def sigint(self) -> None:
        now = time.monotonic()
        if now - self.last_sigint >= SIGINT_SPACING_S:
            self.last_sigint = now
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGINT)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                f.close()
        for fd in (self.ctl, self.ack, self.rec):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _read_all(fd: int) -> bytes:
    """Everything left in a pipe whose writer has died."""
    if fd < 0:
        return b""
    os.set_blocking(fd, True)
    chunks = []
    while True:
        try:
            b = os.read(fd, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


class VirtualBoard:
    def __init__(self, opts: SimOptions):
        self.opts = opts
        rate = opts.baud / 10.0 if opts.baud else None  # 8N1: 10 bits per byte
        self.out_pacer = Pacer(rate)
        self.in_pacer = Pacer(rate)
        self.out_q = bytearray()  # board -> host
        self.in_q = bytearray()  # host -> board
        self.pty_q = bytearray()
        self.listener: socket.socket | None = None
        self.client: socket.socket | None = None
        self.pty_master = -1
        self.pty_slave = -1
        self.pty_path = ""
        self.url = ""
        self.child: Child | None = None
        self.cause = "power"
        self.boot_us = 0
        self.world_us = 0  # world time when the current child started (or last report)
        self.world_t = time.monotonic()
        self.pending_boot: tuple[float, dict] | None = None  # deep sleep: when, how
        self.discard_input = False
        self.crashes: list[float] = []
        self.stop_reason = ""
        self.error: CocoonError | None = None
        self.bytes_to_host = 0
        self.bytes_from_host = 0
        self.resets = 0
        self.frames = 0
        self.record_file = None
        self._wake_r = self._wake_w = -1
        self._want_write: set[int] = set()
        self._record_t = 0.0

    # ------------------------------------------------------------ setting up
    def start(self) -> None:
        """Bind the link, boot the board, wait until it runs; raise CocoonError on failure."""
        self.open_link()
        self.boot()

    def open_link(self) -> None:
        """The socket and/or the pty; a port already taken is a CocoonError."""
        o = self.opts
        if o.listen_port is not None:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.listener.bind(("127.0.0.1", o.listen_port))
            except OSError as e:
                self.listener.close()
                self.listener = None
                if e.errno == errno.EADDRINUSE:
                    raise CocoonError(
                        f"port {o.listen_port} on 127.0.0.1 is already in use "
                        "(another virtual board, or another program)",
                        "choose another one with --listen PORT, or --listen 0 for any free port",
                    ) from None
                raise CocoonError(
                    f"cannot listen on 127.0.0.1:{o.listen_port}: {e.strerror}",
                    "choose another port with --listen PORT (1024-65535), or --listen 0",
                ) from None
            self.listener.listen(4)
            self.listener.setblocking(False)
            self.url = f"socket://127.0.0.1:{self.listener.getsockname()[1]}"
        if o.pty:
            self.pty_master, self.pty_slave = os.openpty()
            tty.setraw(self.pty_slave)  # a serial line: no echo, no line editing, no CR/LF games
            os.set_blocking(self.pty_master, False)
            self.pty_path = os.ttyname(self.pty_slave)

    def boot(self) -> None:
        """Switch the board on (opts.fs must hold its filesystem) and wait until it runs."""
        o = self.opts
        if o.record_leds:
            try:
                self.record_file = open(o.record_leds, "w", encoding="ascii")  # noqa: SIM115
            except OSError as e:
                raise CocoonError(
                    f"cannot write the LED recording {o.record_leds}: {e.strerror}",
                    "give --record-leds a path in a folder you can write to",
                ) from None
            cols = ",".join(f"r{i},g{i},b{i}" for i in range(o.leds))
            self.record_file.write(f"t_ms,{cols}\n")
            self.record_file.flush()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._spawn(boot="power", mode="friendly")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (self.child and self.child.ready):
            if self.error:
                raise self.error
            if self.stop_reason:
                return
            if time.monotonic() > deadline:
                raise CocoonError(
                    f"the virtual board did not start within {READY_TIMEOUT_S:.0f} s",
                    "run it with --verbose to see why",
                )
            self._step(min(0.1, deadline - time.monotonic()))
        if self.error:
            raise self.error

    def _spawn(self, *, boot: str, mode: str) -> None:
        self.world_t = time.monotonic()
        self.child = Child(
            self.opts,
            boot=boot,
            mode=mode,
            cause=self.cause,
            world_us=self.world_us,
            boot_us=self.boot_us,
        )
        self.discard_input = False
        self._log(f"boot ({boot}, {mode} REPL) pid {self.child.proc.pid}")

    def _log(self, text: str) -> None:
        if self.opts.verbose:
            print(f"sim: {text}", file=sys.stderr, flush=True)

    # ------------------------------------------------------------ running
    def wake(self) -> None:
        """Make serve() look at stop_reason now (safe from a signal handler)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    def stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason
        self.wake()

    def serve(self) -> str:
        """Run until stop() or --until; returns why it stopped."""
        while not self.stop_reason:
            self._step(0.5)
            if self.error:
                raise self.error
        return self.stop_reason

    def estimated_world_us(self) -> int:
        speed = 1.0 if self.opts.speed_milli == 0 else self.opts.speed_milli / 1000.0
        return self.world_us + int((time.monotonic() - self.world_t) * 1e6 * speed)

    def _step(self, max_wait: float) -> None:
        now = time.monotonic()
        self._pump_in(now)
        self._pump_out(now)
        timeout = max_wait
        if self.out_q and self.out_pacer.rate:
            timeout = min(timeout, self.out_pacer.wait_s(now))
        if self.in_q and self.in_pacer.rate:
            timeout = min(timeout, self.in_pacer.wait_s(now))
        if self.pending_boot:
            timeout = min(timeout, max(0.0, self.pending_boot[0] - now))
        if self.opts.until_s is not None and self.opts.speed_milli:
            # backstop for a board stuck in a computation: the runner's own idea of world time
            if self.estimated_world_us() > (self.opts.until_s + 2.0) * 1e6:
                self._until(self.estimated_world_us())
                return
        rlist = [self._wake_r]
        if self.listener:
            rlist.append(self.listener.fileno())
        if self.client and len(self.in_q) < QUEUE_LIMIT:
            rlist.append(self.client.fileno())
        if self.pty_master >= 0 and len(self.in_q) < QUEUE_LIMIT:
            rlist.append(self.pty_master)
        c = self.child
        if c:
            rlist.append(c.ctl)
            if c.rec >= 0:
                rlist.append(c.rec)
            if len(self.out_q) < QUEUE_LIMIT:
                rlist.append(c.stdout)
        wlist = list(self._want_write)
        try:
            r, w, _ = select_fds(rlist, wlist, timeout)
        except InterruptedError:
            return
        self._want_write.clear()
        if self._wake_r in r:
            with contextlib.suppress(OSError):
                os.read(self._wake_r, 4096)
        if c and c.ctl in r:
            self._read_ctl(c)
        if self.child is not c:
            return  # reset while reading control lines: the fds above are gone
        if c and c.rec >= 0 and c.rec in r:
            self._read_rec(c)
        if c and c.stdout in r:
            self._read_stdout(c)
        if self.listener and self.listener.fileno() in r:
            self._accept()
        if self.client and self.client.fileno() in r:
            self._read_client()
        if self.pty_master >= 0 and self.pty_master in r:
            self._read_pty()
        if self.pending_boot and time.monotonic() >= self.pending_boot[0]:
            _, how = self.pending_boot
            self.pending_boot = None
            self._spawn(**how)
        if self.record_file and time.monotonic() - self._record_t > 1.0:
            self.record_file.flush()  # what was recorded survives a crash of the host
            self._record_t = time.monotonic()

    # ------------------------------------------------------------ host -> board
    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        if self.client is not None:
            self._read_client()  # the old client may have just hung up: see its EOF first
        if self.client is not None:
            with contextlib.suppress(OSError):
                conn.sendall(BUSY_LINE)
            conn.close()
            self._log("refused a second client")
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = conn
        self._log("client connected")

    def _drop_client(self) -> None:
        if self.client is not None:
            self._want_write.discard(self.client.fileno())
            with contextlib.suppress(OSError):
                self.client.close()
            self.client = None
            self._log("client disconnected")

    def _read_client(self) -> None:
        assert self.client is not None
        try:
            data = self.client.recv(max(1, QUEUE_LIMIT - len(self.in_q)))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client()
            return
        self._from_host(data)

    def _read_pty(self) -> None:
        try:
            data = os.read(self.pty_master, max(1, QUEUE_LIMIT - len(self.in_q)))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        self._from_host(data)

    def _from_host(self, data: bytes) -> None:
        self.bytes_from_host += len(data)
        if not self.discard_input:
            self.in_q += data

    def _pump_in(self, now: float) -> None:
        """Deliver queued host bytes to the board at the link's pace; Ctrl-C may become SIGINT."""
        c = self.child
        if not self.in_q:
            self.in_pacer.idle(now)
            return
        if c is None:
            if self.discard_input:
                self.in_q.clear()
            return
        if c.state == "boot":
            return  # held until the board says who reads it
        n = min(len(self.in_q), self.in_pacer.allowance(now))
        if n <= 0:
            return
        chunk = bytes(self.in_q[:n])
        done = 0
        while done < len(chunk):
            intr = c.state == "run" and c.intr == 3
            if intr and chunk[done] == 3:
                c.sigint()  # MicroPython: KeyboardInterrupt in the running code
                self._log("Ctrl-C: SIGINT")
                done += 1
                continue
            end = len(chunk)
            if intr:
                cut = chunk.find(b"\x03", done)
                end = cut if cut >= 0 else end
            try:
                w = os.write(c.stdin, chunk[done:end])
            except BlockingIOError:
                self._want_write.add(c.stdin)
                break
            except OSError:
                w = end - done  # the board is gone: its input is lost, as on a reset
            done += w
            if done < end:
                self._want_write.add(c.stdin)
                break
        del self.in_q[:done]
        self.in_pacer.consume(done)

    # ------------------------------------------------------------ board -> host
    def _read_stdout(self, c: Child) -> None:
        try:
            data = os.read(c.stdout, max(1, QUEUE_LIMIT - len(self.out_q)))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self.out_q += data
            return
        # EOF: the interpreter ended without asking for a reset
        if self.child is c:
            self._crashed(c)

    def _pump_out(self, now: float) -> None:
        if self.pty_q and self.pty_master >= 0:
            try:
                w = os.write(self.pty_master, self.pty_q)
                del self.pty_q[:w]
            except BlockingIOError:
                self._want_write.add(self.pty_master)
            except OSError:
                self.pty_q.clear()
        if not self.out_q:
            self.out_pacer.idle(now)
            return
        n = min(len(self.out_q), self.out_pacer.allowance(now))
        if n <= 0:
            return
        chunk = bytes(self.out_q[:n])
        sent = len(chunk)  # with nobody listening, the bytes still take their time on the line
        if self.client is not None:
            try:
                sent = self.client.send(chunk)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._drop_client()
                sent = len(chunk)
            if sent < len(chunk) and self.client is not None:
                self._want_write.add(self.client.fileno())
        if self.pty_master >= 0 and sent:
            self.pty_q += chunk[:sent]
            if len(self.pty_q) > PTY_QUEUE_LIMIT:
                del self.pty_q[: len(self.pty_q) - PTY_QUEUE_LIMIT]
        del self.out_q[:sent]
        self.out_pacer.consume(sent)
        self.bytes_to_host += sent

    # ------------------------------------------------------------ the board's life
    def _read_ctl(self, c: Child) -> None:
        try:
            data = os.read(c.ctl, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return  # the process ended: stdout's EOF handles it
        c.ctl_buf += data
        while b"\n" in c.ctl_buf and self.child is c:
            line, _, c.ctl_buf = c.ctl_buf.partition(b"\n")
            self._control(c, line.decode("ascii", "replace").split(" "))

    def _control(self, c: Child, msg: list[str]) -> None:
        kind = msg[0]
        if kind == "run":
            c.state = "run"
        elif kind == "idle":
            c.state = "idle"
            with contextlib.suppress(OSError):
                os.write(c.ack, b"ack %s\n" % msg[1].encode())
        elif kind == "intr":
            c.intr = int(msg[1])
        elif kind == "ready":
            c.ready = True
            self.crashes = [t for t in self.crashes if time.monotonic() - t < CRASH_WINDOW_S]
        elif kind == "reset":
            self._reset(c, msg[1], msg[2], int(msg[3]), int(msg[4]))
        elif kind == "until":
            self._until(int(msg[1]))
        elif kind == "fatal":
            text = " ".join(msg[1:])
            self.error = CocoonError(
                f"the virtual board could not start: {text}", "see `cocoon sim --help`"
            )
            self._end_child(c)
        elif kind == "log":
            self._log(" ".join(msg[1:]))

    def _end_child(self, c: Child) -> None:
        """Stop the interpreter and keep everything it had already sent."""
        c.kill()
        self.out_q += _read_all(c.stdout)
        if c.rec >= 0:
            c.rec_buf += _read_all(c.rec)
            self._write_frames(c)
        c.close()
        if self.child is c:
            self.child = None

    def _reset(self, c: Child, kind: str, mode: str, world_us: int, sleep_us: int) -> None:
        self._end_child(c)
        self.resets += 1
        self.world_us = world_us
        self._log(f"reset: {kind}")
        if kind == "soft":
            self._spawn(boot="soft", mode=mode)
            return
        # A hard reset of the chip: input that arrives meanwhile is lost.
        self.in_q.clear()
        self.discard_input = True
        self.cause = kind
        if kind == "deepsleep" and sleep_us > 0:
            speed = self.opts.speed_milli / 1000.0
            real_s = 0.0 if self.opts.speed_milli == 0 else sleep_us / 1e6 / speed
            self.world_us = world_us + sleep_us
            self.boot_us = self.world_us
            self.world_t = time.monotonic() + real_s
            self.pending_boot = (time.monotonic() + real_s, {"boot": "hard", "mode": "friendly"})
            return
        self.boot_us = world_us
        self._spawn(boot="hard", mode="friendly")

    def _crashed(self, c: Child) -> None:
        status = c.proc.poll()
        world = self.estimated_world_us()
        self._end_child(c)
        if self.error:
            return
        now = time.monotonic()
        self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW_S] + [now]
        tail = self.out_q[-200:].decode("utf-8", "replace").strip().splitlines()
        if len(self.crashes) >= CRASH_LIMIT or not c.ready:
            why = tail[-1] if tail else f"exit status {status}"
            self.error = CocoonError(
                f"the virtual board's interpreter keeps ending ({why})",
                "run it with --verbose, or start it with --blank to rule out the firmware",
            )
            return
        self._log(f"MicroPython ended (exit status {status}): {' / '.join(tail[-3:])}")
        self.out_q += (
            b"\r\n*** virtual board: MicroPython ended (exit status %d): hard reset\r\n"
            % (status if status is not None else -1)
        )
        self.resets += 1
        self.world_us = world
        self.boot_us = world
        self.cause = "crash"
        self.in_q.clear()
        self._spawn(boot="hard", mode="friendly")

    def _until(self, world_us: int) -> None:
        if self.child is not None:
            self._end_child(self.child)
        self.world_us = world_us
        self.stop_reason = "until"
        self._log(f"--until reached at {world_us / 1e6:.3f} s of virtual time")

    # ------------------------------------------------------------ LED recording
    def _read_rec(self, c: Child) -> None:
        try:
            data = os.read(c.rec, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            c.rec_buf += data
            self._write_frames(c)

    def _write_frames(self, c: Child) -> None:
        size = 8 + 3 * self.opts.leds
        buf = c.rec_buf
        n = len(buf) // size
        if not n or self.record_file is None:
            return
        lines = []
        for i in range(n):
            rec = buf[i * size : (i + 1) * size]
            t_ms = int.from_bytes(rec[:8], "little") // 1000
            lines.append(f"{t_ms},{','.join(map(str, rec[8:]))}\n")
        self.record_file.write("".join(lines))
        self.frames += n
        c.rec_buf = buf[n * size :]

    # ------------------------------------------------------------ ending
    def flush_output(self, timeout_s: float = 5.0) -> None:
        """Give what the board already sent a chance to reach the host (at the link's pace)."""
        deadline = time.monotonic() + timeout_s
        while self.out_q and self.client is not None and time.monotonic() < deadline:
            self._pump_out(time.monotonic())
            if self.out_q:
                time.sleep(min(0.01, self.out_pacer.wait_s(time.monotonic()) or 0.001))

    def close(self) -> None:
        if self.child is not None:
            self._end_child(self.child)
        self.flush_output()
        self._drop_client()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for fd in (self.pty_master, self.pty_slave, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.pty_master = self.pty_slave = self._wake_r = self._wake_w = -1
        if self.record_file is not None:
            self.record_file.close()
            self.record_file = None


def select_fds(rlist: list[int], wlist: list[int], timeout: float):
    sel = selectors.DefaultSelector()
    try:
        for fd in set(rlist) | set(wlist):
            ev = (selectors.EVENT_READ if fd in rlist else 0) | (
                selectors.EVENT_WRITE if fd in wlist else 0
            )
            sel.register(fd, ev)
        ready = sel.select(max(0.0, timeout))
    finally:
        sel.close()
    r = [k.fd for k, ev in ready if ev & selectors.EVENT_READ]
    w = [k.fd for k, ev in ready if ev & selectors.EVENT_WRITE]
    return r, w, []
