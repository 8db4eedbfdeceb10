"""`cocoon festival`: put cocoons in a festival group (radio sync), or show how they sync.

    cocoon festival --new-key > crew.key                            # once per festival crew
    cocoon festival --port /dev/ttyUSB0 --key-file crew.key --group 7 --start

A group is a number and a key (firmware/cocoon/festival.py). Cocoons out of the box share a
public demo key, so anyone can join or imitate their group: a crew sets its own key on every
cocoon. The settings go to the board in one `config` command (validated there, saved unless
--no-save) and the board's acknowledgement is awaited; --start also switches the light to
festival mode. With only --port, the board's radio status (STATE "radio") is printed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from cocoon import proto

from . import port as portmod
from .errors import CocoonError

KEY_BYTES = 32
ANSWER_S = 10.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = (
        "examples:\n"
        "  cocoon festival --new-key > crew.key\n"
        "  cocoon festival --port socket://127.0.0.1:7788 --key-file crew.key --group 7 --start\n"
        "  cocoon festival --port /dev/ttyUSB0              (show the radio: peers, r, drops)\n"
        "  cocoon festival --port /dev/ttyUSB0 --off        (this cocoon opts out)"
    )
    p.add_argument("--port", help="the board: socket://HOST:PORT, /dev/ttyUSB0, COM3, ...")
    p.add_argument("--baud", type=int, default=portmod.DEFAULT_BAUD, help="serial baud rate")
    p.add_argument(
        "--new-key", action="store_true", help=f"print a new random {KEY_BYTES}-byte group key"
    )
    key = p.add_mutually_exclusive_group()
    key.add_argument("--key-file", type=Path, help="the group key: a file of hex digits")
    key.add_argument("--demo-key", action="store_true", help="back to the public demo key")
    p.add_argument("--group", type=int, help="group number 0..65535")
    p.add_argument("--k-mhz", type=int, help="coupling K, 0..250 mHz (0: lead, never follow)")
    p.add_argument("--tx-ms", type=int, help="one sync packet every MS (200..5000)")
    p.add_argument("--period-ms", type=int, help="this cocoon's festival pulse (2000..30000)")
    p.add_argument("--palette", type=int, help="festival palette 0..3")
    onoff = p.add_mutually_exclusive_group()
    onoff.add_argument("--off", action="store_true", help="opt out: no sending, no listening")
    onoff.add_argument("--on", action="store_true", help="sync allowed again")
    p.add_argument("--start", action="store_true", help="also switch the light to festival mode")
    p.add_argument("--no-save", action="store_true", help="apply without saving to the board")


def read_key(path: Path) -> str:
    """The hex key in path (whitespace ignored), checked: 8..32 bytes."""
    try:
        text = "".join(path.read_text().split()).lower()
    except OSError as e:
        raise CocoonError(
            f"cannot read the key file {path}: {e.strerror}", "make one with --new-key"
        ) from None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if not 8 <= len(raw) <= 32 or raw.hex() != text:
        raise CocoonError(
            f"{path} does not hold a group key (8 to 32 bytes as hex digits)",
            "make one with `cocoon festival --new-key > crew.key`",
        )
    return text


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from cocoon import config

    changes: dict[str, Any] = {}
    if args.key_file is not None:
        changes["sync_key"] = read_key(args.key_file)
    elif args.demo_key:
        changes["sync_key"] = config.DEMO_SYNC_KEY
    for key, value in (
        ("sync_group", args.group),
        ("sync_k_mhz", args.k_mhz),
        ("sync_tx_ms", args.tx_ms),
        ("sync_period_ms", args.period_ms),
        ("festival", args.palette),
    ):
        if value is not None:
            changes[key] = value
    if args.off or args.on:
        changes["sync"] = "off" if args.off else "on"
    # The board validates too; checking here says what is wrong before anything is sent.
    for key, value in changes.items():
        why = config.check(key, value)
        if why is not None:
            raise CocoonError(why, "see `cocoon festival --help`")
    return changes


def exchange(url: str, baud: int, commands: list[bytes]) -> tuple[list[dict], dict | None]:
    """Send command lines (seq 1..n), wait for their acks (and one STATE after them)."""
    ser = portmod.open_port(url, baud)
    parser = proto.Parser()
    acks: dict[int, dict] = {}
    state = None
    try:
        for line in commands:
            ser.write(line)
        deadline = time.monotonic() + ANSWER_S
        while time.monotonic() < deadline:
            data = ser.read(max(1, ser.in_waiting))
            for frame in parser.feed(data):
                p = frame.payload
                if frame.type == proto.EVENT and p.get("ev") == "ack" and p.get("cmd"):
                    acks[p["cmd"]] = p
                elif frame.type == proto.STATE and len(acks) == len(commands):
                    state = p
            if len(acks) == len(commands) and state is not None:
                break
    finally:
        ser.close()
    if len(acks) < len(commands):
        raise CocoonError(
            f"no answer from {url} in {ANSWER_S:g} s",
            "is the Chrono-Cocoon firmware running on it? (`cocoon telemetry --port` shows it)",
        )
    return [acks[i + 1] for i in range(len(commands))], state


def status_lines(radio: dict | None) -> list[str]:
    if radio is None:
        return ["this board has no radio"]
    lines = [json.dumps(radio, separators=(",", ":"))]
    if radio.get("demo_key"):
        lines.append(
            "note: this cocoon uses the public demo key: set your crew's own with --key-file"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    if args.new_key:
        print(secrets.token_hex(KEY_BYTES))
        return 0
    if not args.port:
        raise CocoonError("--port is needed to talk to a board", "e.g. --port /dev/ttyUSB0")
    changes = settings_from_args(args)
    commands: list[bytes] = []
    if changes:
        commands.append(proto.command(1, "config", set=changes, save=not args.no_save))
    if args.start:
        commands.append(proto.command(len(commands) + 1, "set", mode="festival"))
    if not commands:
        commands.append(proto.command(1, "ping"))
    acks, state = exchange(args.port, args.baud, commands)
    for ack in acks:
        if not ack.get("ok"):
            raise CocoonError(
                f"the board refused {ack.get('op')}: {ack.get('error')}", "nothing was changed"
            )
    if changes:
        shown = {k: ("(set)" if k == "sync_key" else v) for k, v in changes.items()}
        saved = "applied" if args.no_save else "applied and saved"
        print(f"cocoon festival: {saved}: {json.dumps(shown)}", file=sys.stderr)
    for line in status_lines((state or {}).get("radio")):
        print(line)
    return 0
