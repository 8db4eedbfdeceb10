"""`cocoon flash` against real virtual boards (`cocoon sim` subprocesses), and its bad inputs.

One blank board is flashed from scratch, re-flashed with nothing changed, watched with
`cocoon telemetry`, and flashed with a main.py that never says HELLO. Link throughput and flash
times are figures for bench/ (bench_flash.py), not assertions here.
"""

from __future__ import annotations

import os
import pty
import socket
import subprocess
from pathlib import Path

import pytest
import serial
from cli_run import cocoon as _cocoon
from cli_run import one_clear_line
from cocoon_host import build, flash
from cocoon_host.errors import CocoonError
from cocoon_host.sim import SimProcess
from mpremote.transport_serial import SerialTransport

ROOT = Path(__file__).resolve().parents[2]


def cocoon(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return _cocoon(*args, timeout=timeout)


@pytest.fixture(scope="module")
def blank_board(tmp_path_factory):
    fs = tmp_path_factory.mktemp("board")
    with SimProcess(["--blank", "--fs", str(fs), "--speed", "1"]) as sim:
        yield sim, fs


def test_first_flash_onto_a_blank_board_then_hello(blank_board):
    sim, fs = blank_board
    proc = cocoon("flash", "--port", sim.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = build.build_firmware("sim", build.unix_port_march())
    bid = build.build_id(files)
    assert f"HELLO from the board: firmware 0.1.0, build {bid}, port sim" in proc.stdout
    assert "slot a:" in proc.stdout and "switched /fw/active to a" in proc.stdout
    assert (fs / "fw" / "active").read_text() == "a"
    assert (fs / "fw" / "a" / "build.txt").read_text().strip() == bid
    assert (fs / "main.py").read_bytes() == (ROOT / "firmware" / "main.py").read_bytes()
    assert (fs / "fw" / "boots").read_text().strip() in ("0", "1")


def test_reflash_with_nothing_changed_copies_nothing(blank_board):
    sim, fs = blank_board
    proc = cocoon("flash", "--port", sim.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is already active in slot a: nothing to copy" in proc.stdout
    assert "copying" not in proc.stdout
    assert "flashed in" in proc.stdout and "0 files sent" in proc.stdout
    assert (fs / "fw" / "active").read_text() == "a"


def test_telemetry_of_the_flashed_board_asks_for_the_missed_hello(blank_board):
    sim, _ = blank_board
    proc = cocoon("telemetry", "--port", sim.url, "--plain", "--seconds", "4")
    assert proc.returncode == 0, proc.stderr
    types = [line.split('"type": "')[1].split('"')[0] for line in proc.stdout.splitlines()]
    assert "STATE" in types and "HELLO" in types


def test_a_changed_firmware_goes_to_the_other_slot_reusing_files(blank_board, monkeypatch):
    sim, fs = blank_board
    real = build.build_firmware

    def one_more_file(target="esp32", march="xtensawin"):
        return real(target, march) + [("extra.txt", b"a new file\n")]

    monkeypatch.setattr(build, "build_firmware", one_more_file)
    in_slot_a = {
        flash.sha256_hex(p.read_bytes()) for p in (fs / "fw" / "a").rglob("*") if p.is_file()
    }
    report = flash.flash(sim.url, out=open(os.devnull, "w"))
    plan = report.plan
    assert plan.slot == "b" and "extra.txt" in plan.send
    # Exactly the files whose bytes the board did not hold yet went over the link.
    for name, data in plan.files:
        assert (name in plan.send) == (flash.sha256_hex(data) not in in_slot_a), name
    assert len(plan.send) + len(plan.board_copy) + len(plan.unchanged) == len(plan.files)
    assert (fs / "fw" / "active").read_text() == "b"
    assert (fs / "fw" / "b" / "extra.txt").read_text() == "a new file\n"
    assert report.hello is not None and report.hello["build"] == plan.build_id


def test_dry_run_shows_the_plan_and_writes_nothing(blank_board, monkeypatch):
    sim, fs = blank_board
    flash.flash(sim.url, out=open(os.devnull, "w"))
    before = {p: p.read_bytes() for p in fs.rglob("*") if p.is_file() and p.name != "boots"}
    real = build.build_firmware
    monkeypatch.setattr(
        build, "build_firmware", lambda t="esp32", m="xtensawin": real(t, m) + [("x.txt", b"x")]
    )
    report = flash.flash(sim.url, dry_run=True, out=open(os.devnull, "w"))
    assert report.plan.switch and "x.txt" in report.plan.send
    after = {p: p.read_bytes() for p in fs.rglob("*") if p.is_file() and p.name != "boots"}
    assert after == before


def test_a_main_py_that_never_says_hello_is_one_clear_error(blank_board, monkeypatch):
    sim, fs = blank_board
    real_root = build.root_files
    broken = b"print('starting')\nraise ValueError('main.py is broken on purpose')\n"

    def root_files():
        return [(n, broken if n == "main.py" else d) for n, d in real_root()]

    monkeypatch.setattr(build, "root_files", root_files)
    with pytest.raises(CocoonError) as e:
        flash.flash(sim.url, timeout_s=30, out=open(os.devnull, "w"))
    msg = str(e.value)
    assert "did not start" in msg and "main.py is broken on purpose" in msg
    assert "\n" not in msg
    # Put the real main.py back for any later test.
    monkeypatch.setattr(build, "root_files", real_root)
    flash.flash(sim.url, out=open(os.devnull, "w"))


def test_a_crash_looping_board_boots_into_safe_mode_then_tries_again(blank_board):
    sim, fs = blank_board
    flash.flash(sim.url, out=open(os.devnull, "w"))
    (fs / "fw" / "boots").write_text("10\n")  # as if 10 boots in a row had crashed early
    hellos = []
    for _ in range(2):
        f = flash.Flasher(sim.url, 115200, out=open(os.devnull, "w"))
        try:
            f.connect()
            hello, _, _ = f.reset_and_wait_hello(30)
        finally:
            f.close()
        hellos.append(hello)
    assert hellos[0] is not None and hellos[0]["safe"].startswith("10 boots in a row")
    assert hellos[1] is not None and hellos[1]["safe"] is None  # the next reset tries again
    assert (fs / "fw" / "boots").read_text().strip() == "1"


def test_a_second_client_on_a_busy_virtual_board_is_one_clear_line(blank_board):
    sim, _ = blank_board
    host, port = sim.url.removeprefix("socket://").rsplit(":", 1)
    holder = socket.create_connection((host, int(port)))
    try:
        proc = cocoon("flash", "--port", sim.url)
        one_clear_line(proc, "already has a client", "close the other")
    finally:
        holder.close()


def test_telemetry_from_a_busy_virtual_board_is_one_clear_line(blank_board):
    sim, _ = blank_board
    host, port = sim.url.removeprefix("socket://").rsplit(":", 1)
    holder = socket.create_connection((host, int(port)))
    try:
        proc = cocoon("telemetry", "--port", sim.url, "--seconds", "3")
        one_clear_line(proc, "already has a client", "close the other")
    finally:
        holder.close()


def test_nobody_listening_is_one_clear_line():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    one_clear_line(cocoon("flash", "--port", f"socket://127.0.0.1:{port}"), "nobody is listening")


def test_a_port_that_does_not_exist_is_one_clear_line():
    one_clear_line(cocoon("flash", "--port", "/dev/ttyUSB_cocoon_none"), "no serial port")


def test_a_busy_serial_port_is_one_clear_line():
    controller, device = pty.openpty()
    name = os.ttyname(device)
    holder = serial.Serial(name, exclusive=True)
    try:
        one_clear_line(cocoon("flash", "--port", name), "busy")
    finally:
        holder.close()
        os.close(controller)
        os.close(device)


def test_a_serial_device_that_is_not_micropython_is_one_clear_line():
    # A pty whose other end never answers: the raw REPL never comes.
    controller, device = pty.openpty()
    try:
        proc = cocoon("flash", "--port", os.ttyname(device), timeout=60)
        one_clear_line(proc, "does not answer like MicroPython")
    finally:
        os.close(controller)
        os.close(device)


def test_the_transport_subclass_sets_what_serial_transport_sets():
    # flash.Transport copies SerialTransport.__init__'s attributes (mpremote is pinned): check
    # the parent sets no attribute the subclass would miss.
    import inspect

    src = inspect.getsource(SerialTransport.__init__)
    parent = {
        line.split("self.")[1].split("=")[0].strip()
        for line in src.splitlines()
        if line.strip().startswith("self.") and "=" in line and "(" not in line.split("=")[0]
    }
    parent = {name for name in parent if "." not in name}  # self.serial.dtr etc. are not new
    mine = inspect.getsource(flash.Transport.__init__)
    assert parent and all(f"self.{name}" in mine for name in parent), parent


def test_the_host_and_the_firmware_agree_on_version_and_build_file():
    import tomllib
    from cocoon import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert version.VERSION == project["version"]
    assert version.BUILD_FILE == build.BUILD_FILE
