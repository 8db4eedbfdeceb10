"""Settings: defaults, validation and persistence through the board's store.

    cfg, problems = config.load(board.store)      # never raises; problems: readable sentences
    problems = config.update(cfg, {"bri": 30})    # all-or-nothing; [] when applied

The stored form is one JSON object. A missing store means defaults and no complaint (first boot).
A corrupt store or a bad value falls back to the default for what is wrong, and `problems` says
what was wrong so the app can send it in an ERR frame: a bad config never stops the light.

Other parts add their settings with one line in SCHEMA. Kinds:
    ("int", default, low, high)        an integer in low..high
    ("choice", default, (a, b, ...))   one of the strings
    ("rgb", default)                   a colour "rrggbb" (6 hex digits)
    ("hex", default, low, high)        low..high bytes written as hex digits (a key)
"""

import json

# Light modes the app knows today; the light engine adds its own.
MODES = ["pulse", "breathe", "sunrise", "nightlight", "off", "festival"]  # cocoon/core/light.py

# The public demo group key: "chrono-cocoon demo key, change!!" (32 bytes). See sync_key below.
DEMO_SYNC_KEY = "6368726f6e6f2d636f636f6f6e2064656d6f206b65792c206368616e67652121"

SCHEMA = {
    # Brightness 0..255 of the whole light. Dim by default: a night light should stay far below
    # melanopic EDI 10 lx (Brown et al. 2022); the user raises it if they want more.
    "bri": ("int", 48, 0, 255),
    "mode": ("choice", "pulse", MODES),
    # Amber-red: red light has the least effect on the circadian clock (domain notes, Light).
    "color": ("rgb", "ff5a00"),
    # One slow breath: 10 s = 6 breaths per minute, the end point of sleep-aid pacing (Dodow).
    "period_ms": ("int", 10000, 4000, 60000),
    # How often the board sends a STATE frame.
    "state_ms": ("int", 1000, 250, 60000),
    # Frames per second sent to the strip (WLED targets 42).
    "fps": ("int", 50, 10, 100),
    # The light engine (cocoon/core/light.py). Stage colours: "color" is for wake/unknown; all
    # default to amber and red with no blue (melanopic EDI <= 1 lx at night, Brown et al. 2022).
    "color_light": ("rgb", "ff3c00"),
    "color_deep": ("rgb", "c80800"),
    "color_rem": ("rgb", "ff1e04"),
    "gamma_x100": ("int", 220, 100, 300),  # WLED's 2.2 (ESPHome: 2.8)
    "depth": ("int", 160, 0, 255),  # how far a pulse dips, x/255
    "fade_ms": ("int", 750, 0, 10000),  # WLED's default transition
    "stage_fade_ms": ("int", 10000, 0, 120000),
    "sunrise_min": ("int", 30, 1, 120),  # Philips wake-up light, Hatch: 30 min
    "sunrise_bri": ("int", 255, 1, 255),
    "nightlight_min": ("int", 60, 1, 255),  # WLED's nightlight: 1-255 min, 60 by default
    "festival": ("int", 0, 0, 3),  # group palette number
    # Power (WLED's brightness limiter; hardware/power.md): supply budget, full-white draw per
    # LED, reserve for the ESP32. The app refuses a budget below the idle draw of the strip.
    "budget_ma": ("int", 850, 150, 20000),
    "ma_per_led": ("int", 55, 0, 200),
    "reserve_ma": ("int", 120, 0, 2000),
    # Festival sync over the radio (cocoon/festival.py, docs/design.md "Festival sync"). "off"
    # opts out: the radio neither sends nor listens. In festival mode a cocoon sends its pulse to
    # its group and is pulled by the others with coupling K (0: it leads, it is never pulled).
    "sync": ("choice", "on", ("on", "off")),
    "sync_group": ("int", 1, 0, 65535),
    # The group's HMAC key, 8..32 bytes in hex. The default is a PUBLIC demo key, the same in
    # every copy of this firmware: anyone can join or imitate a group that keeps it. A festival
    # crew sets its own (`cocoon` config: sync_key, e.g. 32 random bytes) on all its cocoons.
    "sync_key": ("hex", DEMO_SYNC_KEY, 8, 32),
    "sync_k_mhz": ("int", 100, 0, 250),  # Kuramoto K in mHz (turns/s x 1000); at most the slew
    "sync_tx_ms": ("int", 700, 200, 5000),  # one sync packet per this period (jittered +-25%)
    "sync_period_ms": ("int", 6000, 2000, 30000),  # the festival pulse: 10 per minute
    # Kept by the firmware, not a setting: the radio's boot counter (syncpkt: boots << 20), so
    # that packets sent after a reboot never reuse a counter value. Do not lower it.
    "sync_boots": ("int", 0, 0, 4095),
}


def defaults():
    return {key: spec[1] for key, spec in SCHEMA.items()}


def check(key, value):
    """None if value is valid for key, else a sentence saying what is wrong."""
    spec = SCHEMA.get(key)
    if spec is None:
        return "unknown setting %r" % key
    kind = spec[0]
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return "%s must be an integer, got %r" % (key, value)
        if not spec[2] <= value <= spec[3]:
            return "%s=%d is outside %d..%d" % (key, value, spec[2], spec[3])
    elif kind == "choice":
        if value not in spec[2]:
            return "%s must be one of %s, got %r" % (key, "/".join(spec[2]), value)
    elif kind == "rgb":
        if not (isinstance(value, str) and len(value) == 6 and _is_hex(value)):
            return "%s must be a colour rrggbb, got %r" % (key, value)
    elif kind == "hex":
        ok = isinstance(value, str) and len(value) % 2 == 0 and _is_hex(value)
        if not ok or not spec[2] <= len(value) // 2 <= spec[3]:
            return "%s must be %d..%d bytes as hex digits (e.g. from `openssl rand -hex %d`)" % (
                key, spec[2], spec[3], spec[3])  # fmt: skip
    return None


def _is_hex(text):
    return all(c in "0123456789abcdefABCDEF" for c in text)


def rgb(cfg, key="color"):
    """The colour setting as (r, g, b) integers."""
    value = cfg[key]
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def validate(data):
    """Defaults overlaid with every valid key of `data` (a dict): (cfg, problems)."""
    cfg = defaults()
    problems = []
    if not isinstance(data, dict):
        return cfg, ["config is not a JSON object, using defaults"]
    for key in data:
        why = check(key, data[key])
        if why is None:
            cfg[key] = data[key]
        elif key in SCHEMA:
            problems.append(why + ", using %r" % (SCHEMA[key][1],))
        else:
            problems.append(why + ", ignored")
    return cfg, problems


def load(store):
    """Read and validate the stored config: (cfg, problems). Never raises."""
    try:
        raw = store.read() if store is not None else None
    except Exception as e:  # a broken store (flash error) must not stop the board
        return defaults(), ["cannot read the stored config (%r), using defaults" % (e,)]
    if raw is None or len(raw) == 0:
        return defaults(), []
    try:
        data = json.loads(bytes(raw).decode())
    except Exception:
        return defaults(), ["stored config is not valid JSON, using defaults"]
    return validate(data)


def update(cfg, changes):
    """Apply changes (a dict) to cfg if every one is valid; else change nothing. -> problems."""
    if not isinstance(changes, dict) or not changes:
        return ["expected a non-empty object of settings"]
    problems = []
    for key in changes:
        why = check(key, changes[key])
        if why is not None:
            problems.append(why)
    if not problems:
        for key in changes:
            cfg[key] = changes[key]
    return problems


def save(store, cfg):
    """Persist cfg: None when saved, else a sentence saying why not."""
    if store is None:
        return "this board has no config store"
    try:
        store.write(json.dumps(cfg).encode())
    except Exception as e:
        return "cannot save the config (%r)" % (e,)
    return None
