"""Opening a board's serial link, whatever the URL, with failures turned into one clear sentence.

    ser = port.open_port("socket://127.0.0.1:7788")     # or /dev/ttyUSB0, COM3, rfc2217://host:port
    port.describe_failure(url, exc) -> CocoonError       # the same sentences for other openers

A real ESP32 is a serial device; a virtual board (`cocoon sim`) is a TCP socket. pyserial's
serial_for_url opens both. Serial devices are opened exclusively (a second program would steal
half the bytes), and with DTR and RTS released first, like esp-idf-monitor, so that opening the
port does not reset the board through its auto-reset circuit.
"""

from __future__ import annotations

import errno
import sys

import serial
import serial.tools.list_ports

from .errors import CocoonError

DEFAULT_BAUD = 115200
SOCKET_FORM = "write it as socket://HOST:PORT (cocoon sim prints it)"


def is_socket(url: str) -> bool:
    return url.startswith(("socket://", "rfc2217://"))


def available_ports() -> list[str]:
    try:
        return sorted(p.device for p in serial.tools.list_ports.comports())
    except Exception:  # listing is a hint only; never let it hide the real error
        return []


def _ports_hint() -> str:
    ports = available_ports()
    if ports:
        return "serial ports here: " + ", ".join(ports)
    return "no serial port is present: plug the board in (a data cable, not charge-only)"


def _errno_of(exc: BaseException) -> int | None:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(getattr(e, "errno", None), int):
            return e.errno
        e = e.__cause__ or e.__context__
    return None


def describe_failure(url: str, exc: BaseException) -> CocoonError:
    """The one sentence (what happened: what to do) for a link that could not be opened."""
    text = str(exc)
    low = text.lower()
    code = _errno_of(exc)
    if is_socket(url):
        if "expected a string in the form" in low or "invalid url" in low:
            return CocoonError(
                f"{url} is not a valid address",
                "write it as socket://HOST:PORT (cocoon sim prints it)",
            )
        if code == errno.ECONNREFUSED or "refused" in low:
            return CocoonError(
                f"nobody is listening at {url}",
                "start a virtual board with `cocoon sim` and use the URL it prints",
            )
        if "name or service not known" in low or "nodename nor servname" in low:
            return CocoonError(f"unknown host in {url}", "check the address")
        if "timed out" in low:
            return CocoonError(
                f"no answer from {url}", "check the address and that the board is up"
            )
        return CocoonError(f"cannot connect to {url} ({text})", "check the address")
    if "protocol" in low and "not known" in low:
        return CocoonError(
            f"{url} is not a port or URL I know",
            "use a device path (/dev/ttyUSB0, COM3) or socket://HOST:PORT",
        )
    if code == errno.ENOENT or "no such file" in low or "filenotfound" in low:
        return CocoonError(f"no serial port {url}", _ports_hint())
    if code in (errno.EACCES, errno.EPERM) or "permission denied" in low:
        hint = (
            "add yourself to the dialout group: sudo usermod -aG dialout $USER, then log in again"
        )
        if sys.platform == "darwin":
            hint = "check that no other user owns the port"
        return CocoonError(f"permission denied on {url}", hint)
    if code in (errno.EAGAIN, errno.EBUSY) or "exclusively lock" in low or "busy" in low:
        return CocoonError(
            f"{url} is busy: another program has it open",
            "close mpremote, screen, a serial monitor or another cocoon command, then try again",
        )
    if "not a tty" in low or "inappropriate ioctl" in low or code == errno.ENOTTY:
        return CocoonError(f"{url} is not a serial port", _ports_hint())
    return CocoonError(f"cannot open {url} ({text})", _ports_hint())


def check_url(url: str) -> None:
    """socket:// and rfc2217:// need HOST:PORT; say so before pyserial says something obscure."""
    if not is_socket(url):
        return
    rest = url.split("://", 1)[1].split("?", 1)[0].rstrip("/")
    host, _, number = rest.rpartition(":")
    if not host or not number.isdigit() or not 0 < int(number) < 65536:
        raise CocoonError(
            f"{url} is not a valid address",
            "write it as socket://HOST:PORT (cocoon sim prints it)",
        )


def open_port(url: str, baud: int = DEFAULT_BAUD, timeout_s: float = 0.1) -> serial.SerialBase:
    """Open url for reading and writing; raise CocoonError with what to do if it fails."""
    check_url(url)
    try:
        ser = serial.serial_for_url(
            url,
            baudrate=baud,
            timeout=timeout_s,
            write_timeout=10,
            do_not_open=True,
            exclusive=not is_socket(url),
        )
        # Released before open: opening must not reset the board (esp-idf-monitor does the same).
        ser.dtr = False
        ser.rts = False
        ser.open()
    except (serial.SerialException, OSError, ValueError) as e:
        raise describe_failure(url, e) from None
    return ser
