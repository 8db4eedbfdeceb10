"""The pin map (hardware/pinmap.json) checked against the ESP32's rules, and the wiring table.

    problems = check_pinmap(load_pinmap())       # [] when every pin is usable as wired
    python -m cocoon_host.hardware               # rewrite hardware/wiring.md from the pin map

pinmap.json is the one machine-readable source: the ESP32 port reads it at boot, and wiring.md is
generated from it (a test fails when they differ).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PINMAP = ROOT / "hardware" / "pinmap.json"
WIRING = ROOT / "hardware" / "wiring.md"

# ESP32 (WROOM-32) GPIO facts, from the ESP32 datasheet v4.x, section 2.2 "Pin Description" and the
# ESP32-WROOM-32E datasheet "Strapping Pins":
VALID_GPIOS = set(range(0, 20)) | {21, 22, 23, 25, 26, 27} | set(range(32, 40))
FLASH_GPIOS = set(range(6, 12))  # wired to the module's SPI flash: never usable
INPUT_ONLY_GPIOS = set(range(34, 40))  # no output driver, no internal pull-ups
STRAPPING_GPIOS = {0, 2, 5, 12, 15}  # sampled at reset: a load here can stop the board booting
SIGNALS_THE_PORT_NEEDS = ("I2C_SDA", "I2C_SCL", "LED_DATA")


def load_pinmap(path: Path = PINMAP) -> dict[str, Any]:
    return json.loads(path.read_text())


def check_pinmap(pm: dict[str, Any]) -> list[str]:
    """Every reason this pin map would not work on an ESP32, as sentences."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    signals = set()
    for p in pm.get("pins", []):
        g, sig, d = p.get("gpio"), p.get("signal"), p.get("dir")
        signals.add(sig)
        if not isinstance(g, int) or g not in VALID_GPIOS:
            problems.append(f"{sig}: GPIO{g} does not exist on the ESP32")
            continue
        if g in FLASH_GPIOS:
            problems.append(f"{sig}: GPIO{g} belongs to the SPI flash")
        if g in seen:
            problems.append(f"{sig}: GPIO{g} is already used by {seen[g]}")
        seen[g] = sig
        if d in ("out", "io") and g in INPUT_ONLY_GPIOS:
            problems.append(f"{sig}: GPIO{g} is input-only and cannot drive {d}")
        if d in ("out", "io") and g in STRAPPING_GPIOS:
            problems.append(f"{sig}: GPIO{g} is a strapping pin; a load on it can block booting")
        if d not in ("in", "out", "io"):
            problems.append(f"{sig}: dir must be in, out or io, not {d!r}")
    for sig in SIGNALS_THE_PORT_NEEDS:
        if sig not in signals:
            problems.append(f"no pin for {sig}, which ports/esp32/board.py needs")
    strip = pm.get("strip", {})
    if not isinstance(strip.get("leds"), int) or not 1 <= strip["leds"] <= 1000:
        problems.append("strip.leds must be 1..1000")
    if sorted(strip.get("order", "GRB")) != ["B", "G", "R"]:
        problems.append("strip.order must be a permutation of RGB")
    return problems


def wiring_table(pm: dict[str, Any]) -> str:
    """hardware/wiring.md, generated from the pin map."""
    out = [
        "# Wiring of the reference build",
        "",
        "Generated from `pinmap.json` by `python -m cocoon_host.hardware`: edit the pin map, not",
        "this file (a test checks that they agree).",
        "",
        f"Board: {pm['board']}. LED strip: {pm['strip']['leds']} x {pm['strip']['type']}, "
        f"wire order {pm['strip']['order']}. I2C bus {pm['i2c']['id']} at "
        f"{pm['i2c']['freq_hz'] // 1000} kHz.",
        "",
        "## Signals",
        "",
        "| ESP32 pin | signal | direction | connects to | note |",
        "|---|---|---|---|---|",
    ]
    for p in sorted(pm["pins"], key=lambda p: p["gpio"]):
        out.append(
            f"| GPIO{p['gpio']} | {p['signal']} | {p['dir']} | {', '.join(p['to'])} "
            f"| {p.get('note', '')} |"
        )
    out += ["", "## Fixed connections", "", "| part | pin | to | note |", "|---|---|---|---|"]
    for s in pm.get("straps", []):
        out.append(f"| {s['part']} | {s['pin']} | {s['to']} | {s.get('note', '')} |")
    out += ["", "## Power", "", "| net | from | to | note |", "|---|---|---|---|"]
    for n in pm.get("power", []):
        out.append(f"| {n['net']} | {n['from']} | {', '.join(n['to'])} | {n.get('note', '')} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cocoon_host.hardware", description=__doc__)
    ap.add_argument("--check", action="store_true", help="only check; exit 1 if out of date")
    args = ap.parse_args(argv)
    pm = load_pinmap()
    problems = check_pinmap(pm)
    for why in problems:
        print(f"pinmap.json: {why}", file=sys.stderr)
    text = wiring_table(pm)
    if args.check:
        stale = not WIRING.exists() or WIRING.read_text() != text
        if stale:
            print("hardware/wiring.md is out of date: run python -m cocoon_host.hardware")
        return 1 if stale or problems else 0
    WIRING.write_text(text)
    print(f"wrote {WIRING.relative_to(ROOT)}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
