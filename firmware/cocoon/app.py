"""The scheduler: builds the firmware's parts from the Board and the config, and runs the loop.

    app.run(board)                 # on the board (main.py): runs until Ctrl-C
    a = app.App(board); a.start(t0_ms); a.step(t0_ms + 20)   # in tests: one iteration at a time

One iteration (`App.step(now_ms)`): feed the watchdog, advance uptime, read commands from the
serial line, poll the sensors, render one light frame and hand it to the strip, and, once per
`state_ms`, send a STATE frame. `run()` adds the clock: it measures each step's busy time and
sleeps until the next frame. Time only ever comes in as `now_ms` (board ticks, wrapping like the
ESP32's); all differences go through board.clock.ticks_diff.

Steady state (no frame due, no command arriving) allocates nothing: a test runs step() under
micropython.heap_lock(). Telemetry allocates a little once per second, then gc.collect() runs at
that known point (docs/design.md, Allocation).

Where the other parts plug in (each a small edit here):
  sensors     `self.hub` (cocoon/sensors.py): drivers, FIFOs, beats, heart rate, activity; polled
              in `_poll_sensors(now_ms)`, which hands each beat to the pulse oscillator; it
              reports chips lost and found itself; STATE "sensors" and "heart"
  stages      `_stages_step(now_ms)`: each second of uptime, the heart rate (`self.hub.hr_x10`)
              and each 15-s activity count (`self.hub.take_count()`, read only here) go into the
              epoch features (core/epoch.py); each ready epoch is staged (core/stager.py), sent
              as an EPOCH frame, coloured (renderer.set_stage) and shown to the smart wake
              (core/smartwake.py), whose sunrise the light shows; commands alarm, night
  pulse       `self.sync` (cocoon/core/phasesync.py), advanced with time every step; each heartbeat
              goes in as self.sync.beat_us(age_us); the light follows its phase
  light       `self.renderer` (cocoon/core/light.py): render(now_ms, dt_ms, frame) fills `frame`
              (3*n bytes, R,G,B), current- and flash-limited; configure(cfg), mode, bri;
              set_phase(pulse_q16, breath_q16) and set_stage(stage) before render,
              set_sunrise_q15(smartwake.sunrise_q15(now_ms)) every frame for the smart wake;
              the app hands `frame` to board.strip.show
  radio       `self.festival` (cocoon/festival.py): step(now_ms) every loop receives and sends
              sync packets; in festival mode the oscillator runs at the group's tempo and is
              pulled to its peers; STATE "radio"; configure(cfg) after every settings change
  commands    `self.ops`: op name -> method(frame) returning None (ok) or an error sentence
  telemetry   `state_payload()` builds the STATE dict; `send(type, payload)` sends any frame
"""

import gc
import sys

from micropython import const

from cocoon import config, proto, version
from cocoon.core.epoch import COUNT_S, EPOCH_S, EpochFeatures
from cocoon.core.light import Light
from cocoon.core.phasesync import BREATH, PhaseSync
from cocoon.core.smartwake import EV_FULL, EV_WAKE, EV_WINDOW, REASONS, SmartWake
from cocoon.core.smartwake import IDLE as WAKE_IDLE
from cocoon.core.smartwake import STATES as WAKE_STATES
from cocoon.core.stager import NAMES as STAGE_NAMES
from cocoon.core.stager import Stager
from cocoon.festival import Festival, key_id
from cocoon.sensors import Sensors

# A boot counts as good once the firmware has run this long (ESPHome's safe-mode rule: 1 min).
BOOT_GOOD_AFTER_S = const(60)
# How often a missing sensor is looked for again.
SENSOR_RETRY_MS = const(10000)
# At most one ERR per second for a fault that repeats every loop.
FAULT_REPORT_MS = const(1000)
# How many strip colours a STATE frame carries (evenly spread over the strip).
RGB_SAMPLES = const(8)
# Longest command line accepted from the host.
RX_LINE = const(512)

# I2C addresses of the reference build's sensors (datasheets: MAX30102 7-bit address 0x57;
# MPU-6050 0x68 with AD0 low, register map rev 4.2 section 9.2).
SENSORS = (("ppg", 0x57, "MAX30102 heart sensor"), ("imu", 0x68, "MPU-6050 motion sensor"))

# Light settings a `set` command may change (without saving): see config.SCHEMA.
LIGHT_KEYS = (
    "mode", "bri", "color", "color_light", "color_deep", "color_rem", "gamma_x100", "depth",
    "fade_ms", "stage_fade_ms", "sunrise_min", "sunrise_bri", "nightlight_min", "festival",
)  # fmt: skip


class LoopStats:
    """Busy time per loop iteration: mean, max and rate since the last take(). No allocation."""

    def __init__(self):
        self.n = 0
        self.sum_us = 0
        self.max_us = 0

    def add(self, busy_us):
        self.n += 1
        self.sum_us += busy_us
        if busy_us > self.max_us:
            self.max_us = busy_us

    def take(self, dt_ms):
        n = self.n
        out = {
            "mean_us": self.sum_us // n if n else 0,
            "max_us": self.max_us,
            "hz": (n * 1000 + dt_ms // 2) // dt_ms if dt_ms > 0 else 0,
        }
        self.n = self.sum_us = self.max_us = 0
        return out


class App:
    def __init__(self, board, cfg=None, problems=None, safe=None, healthy=None, boots=0):
        self.board = board
        self.clock = board.clock
        if cfg is None:
            cfg, problems = config.load(board.store)
        self.cfg = cfg
        self.problems = problems or []
        self.safe = safe  # None, or why the board is in safe mode
        self.healthy = healthy  # called once when this boot counts as good
        self.boots = boots
        self.n = board.strip.n
        self.frame = bytearray(3 * self.n)
        self.renderer = Light(self.n)
        try:
            self.renderer.configure(cfg)
        except ValueError as e:  # e.g. a budget too small for this strip: light defaults, say so
            self.problems.append("light: %s, using the light's defaults" % (e,))
            self.renderer.configure({"mode": cfg["mode"], "bri": cfg["bri"]})
        # The pulse oscillator the light follows: locked to heartbeats when they come in.
        self.sync = PhaseSync()
        self._sync_us = 0  # time not yet given to the oscillator (less than one tick)
        # The radio (cocoon/festival.py): in festival mode, the group's tempo, phase and palette.
        self.festival = Festival(board, cfg, self.sync, self.renderer, self.error)
        # The sensors: with a bus that reads registers (a real or simulated machine.I2C).
        i2c = board.i2c
        if i2c is not None and hasattr(i2c, "readfrom_mem_into"):
            self.hub = Sensors(i2c, self.error, self._sensor_event, self.clock.sleep_ms)
        self._init_stages()
        self.loop = LoopStats()
        self.sensors = {}
        self.errs = 0
        self.seq = 0
        self.ops = {
            "ping": self._op_ping,
            "hello": self._op_hello,
            "set": self._op_set,
            "config": self._op_config,
            "alarm": self._op_alarm,
            "night": self._op_night,
        }
        # Command input: a fixed chunk buffer and a fixed line buffer (no allocation when idle).
        self._rx = bytearray(64)
        self._line = bytearray(RX_LINE)
        self._line_len = 0
        self._line_overflow = False
        # Time keeping: uptime as whole seconds plus a remainder, so it stays a small int on the
        # ESP32 for decades (ms would pass 2^30 after 12.4 days).
        self.up_s = 0
        self._up_rem_ms = 0
        self._last_ms = 0
        self._last_frame_ms = 0
        self._frame_ms = 1000 // cfg["fps"]
        self._next_state_ms = 0
        self._last_state_ms = 0
        self._next_sensor_ms = 0
        self._last_fault_ms = 0
        self._faults_unreported = 0
        self._boot_marked = False

    # ---------------------------------------------------------------- frames out

    def uptime_ms(self):
        return self.up_s * 1000 + self._up_rem_ms

    def send(self, ftype, payload):
        line = proto.encode(ftype, self.seq, self.uptime_ms(), payload)
        self.seq = (self.seq + 1) % proto.SEQ_MOD
        try:
            self.board.serial.write(line)
        except Exception:  # nobody listening (USB unplugged): telemetry is best effort
            pass

    def error(self, code, msg):
        self.errs += 1
        self.send(proto.ERR, {"code": code, "msg": msg})

    def hello_payload(self):
        return {
            "fw": version.VERSION,
            "build": version.build_id(),
            "port": self.board.name,
            "leds": self.n,
            "proto": proto.VERSION,
            # The group key stays on the board: only its fingerprint is shown.
            "config": dict(self.cfg, sync_key="sha256:" + key_id(self.cfg["sync_key"])),
            "safe": self.safe,
            "boots": self.boots,
            "board": self.board.info,
        }

    def state_payload(self, dt_ms):
        free = used = None
        if hasattr(gc, "mem_free"):
            free = gc.mem_free()
            used = gc.mem_alloc()
        frame = self.frame
        rgb = []
        k = RGB_SAMPLES if self.n >= RGB_SAMPLES else self.n
        for j in range(k):
            i = 3 * (j * self.n // k)
            rgb.append("%02x%02x%02x" % (frame[i], frame[i + 1], frame[i + 2]))
        r = self.renderer
        return {
            "up_s": self.up_s,
            "loop": self.loop.take(dt_ms),
            "heap": {"free": free, "used": used},
            "led": {
                "mode": r.mode,
                "bri": r.bri,
                "rgb": rgb,
                "stage": r.status()["stage"],
                "ma": r.cur.estimate_ua(frame) // 1000,  # WLED's current estimate
                "cur_limited": r.cur.limited,  # frames scaled into the power budget
                "flash_limited": r.flash.limited,  # frames held back by the flash limiter
            },
            "sync": self.sync.stats(),
            "radio": self.festival.payload(self._last_ms),
            "sleep": self.sleep_payload(self._last_ms),
            "sensors": self.hub.status() if self.hub is not None else self.sensors,
            "heart": self.hub.state_payload() if self.hub is not None else None,
            "errs": self.errs,
        }

    # ---------------------------------------------------------------- lifecycle

    def start(self, now_ms):
        """Boot: HELLO, any config problem as ERR, the first sensor check."""
        self._last_ms = self._last_frame_ms = self._last_state_ms = now_ms
        self._next_state_ms = self.clock.ticks_add(now_ms, self.cfg["state_ms"])
        self._next_sensor_ms = now_ms
        self.send(proto.HELLO, self.hello_payload())
        if self.safe:
            self.error("safe_mode", self.safe)
        for why in self.problems:
            self.error("config", why)
        self._check_sensors(now_ms, True)

    def step(self, now_ms):
        """One iteration at board time now_ms (ticks). Allocation-free unless something is due."""
        # Methods are called, never stored in locals: a bound method object would be an allocation.
        clock = self.clock
        self.board.wdt.feed()
        dt_ms = clock.ticks_diff(now_ms, self._last_ms)
        if dt_ms > 0:
            self._last_ms = now_ms
            rem = self._up_rem_ms + dt_ms
            while rem >= 1000:
                rem -= 1000
                self.up_s += 1
            self._up_rem_ms = rem
            self._sync_us += dt_ms * 1000 if dt_ms < 60000 else 60000000
            ticks = self._sync_us // self.sync.tick_us
            if ticks:
                self._sync_us -= ticks * self.sync.tick_us
                self.sync.advance(ticks)
        self._poll_serial()
        self._poll_sensors(now_ms)
        self.festival.step(now_ms)
        self._stages_step(now_ms)
        frame_dt = clock.ticks_diff(now_ms, self._last_frame_ms)
        if frame_dt >= self._frame_ms:
            self._last_frame_ms = now_ms
            self._phase_to_light()
            self.renderer.render(now_ms, frame_dt, self.frame)
            self.board.strip.show(self.frame)
        if clock.ticks_diff(now_ms, self._next_state_ms) >= 0:
            self._telemetry(now_ms)

    def _phase_to_light(self):
        """The light's phase from the oscillator; breathe mode runs the oscillator's guide."""
        sync = self.sync
        festival = self.renderer.mode == "festival"
        if festival != self.festival.active:
            # Festival: the group's tempo (heartbeats ignored); leaving it: the heart again.
            self.festival.activate(festival, self._last_ms)
        breathing = self.renderer.mode == "breathe"
        if not festival and breathing != (sync.mode() == BREATH):
            if breathing:
                sync.breathe()  # Dodow pacing: 11 -> 6 breaths/min over 8 min, exhale 1.5x
            else:
                sync.follow_heart()
        self.renderer.set_phase(sync.phase_q16(), sync.shaped_q16())

    def _telemetry(self, now_ms):
        diff = self.clock.ticks_diff
        period = self.cfg["state_ms"]
        self._next_state_ms = self.clock.ticks_add(self._next_state_ms, period)
        if diff(now_ms, self._next_state_ms) >= 0:  # fell behind (a stall): no burst of frames
            self._next_state_ms = self.clock.ticks_add(now_ms, period)
        self.send(proto.STATE, self.state_payload(diff(now_ms, self._last_state_ms)))
        self._last_state_ms = now_ms
        if self._faults_unreported:
            self.error("fault", "%d more faults since the last report" % self._faults_unreported)
            self._faults_unreported = 0
        if diff(now_ms, self._next_sensor_ms) >= 0:
            self._check_sensors(now_ms, False)
        if not self._boot_marked and self.up_s >= BOOT_GOOD_AFTER_S:
            self._boot_marked = True
            if self.healthy is not None:
                try:
                    self.healthy()
                except Exception as e:
                    self.error("boot", "cannot mark this boot as good: %r" % (e,))
        gc.collect()

    def fault(self, now_ms, exc):
        """An exception escaped step(): report it (at most once per second) and carry on."""
        self.errs += 1
        if self._last_fault_ms and self.clock.ticks_diff(now_ms, self._last_fault_ms) < 1000:
            self._faults_unreported += 1
            return
        self._last_fault_ms = now_ms or 1
        if hasattr(sys, "print_exception"):
            sys.print_exception(exc)  # the traceback as plain text between frames
        self.send(proto.ERR, {"code": "fault", "msg": "%s: %s" % (type(exc).__name__, exc)})

    def run(self, until_ms=None):
        """The loop: step, measure, sleep until the next frame. until_ms (uptime) is for tests."""
        clock = self.clock
        now = clock.ticks_ms()
        self.start(now)
        if self.safe:
            self._go_dark()
            return
        period = self._frame_ms
        next_ms = now
        while until_ms is None or self.uptime_ms() < until_ms:
            t0_us = clock.ticks_us()
            now = clock.ticks_ms()
            try:
                self.step(now)
            except Exception as e:  # a bug in one part must not stop the light or the telemetry
                self.fault(now, e)
            self.loop.add(clock.ticks_diff(clock.ticks_us(), t0_us))
            next_ms = clock.ticks_add(next_ms, period)
            wait = clock.ticks_diff(next_ms, clock.ticks_ms())
            if wait > 0:
                clock.sleep_ms(wait)
            elif wait < -period:
                next_ms = clock.ticks_ms()  # fell behind: do not try to catch up

    def _go_dark(self):
        for i in range(len(self.frame)):
            self.frame[i] = 0
        self.board.strip.show(self.frame)

    # ---------------------------------------------------------------- inputs

    def _poll_serial(self):
        n = self.board.serial.readinto(self._rx)
        if not n:
            return
        line = self._line
        for i in range(n):
            c = self._rx[i]
            if c == 10:  # "\n"
                if self._line_overflow:
                    self.error("cmd", "command line longer than %d bytes, dropped" % RX_LINE)
                elif self._line_len:
                    self._command(bytes(line[: self._line_len]))
                self._line_len = 0
                self._line_overflow = False
            elif self._line_len < RX_LINE:
                line[self._line_len] = c
                self._line_len += 1
            else:
                self._line_overflow = True

    def _command(self, line):
        frame, damaged = proto.decode_line(line)
        if frame is None:
            if damaged:
                self.error("cmd", "damaged command line (bad checksum or format), ignored")
            return  # plain text typed at the board: not for us
        if frame.type != proto.CMD:
            return
        op = frame.payload.get("op")
        handler = self.ops.get(op)
        if handler is None:
            why = "unknown op %r" % (op,)
        else:
            try:
                why = handler(frame)
            except Exception as e:
                why = "%s: %s" % (type(e).__name__, e)
        ack = {"ev": "ack", "cmd": frame.seq, "op": op, "ok": why is None}
        if why is not None:
            ack["error"] = why
        self.send(proto.EVENT, ack)
        if op == "hello" and why is None:
            self.send(proto.HELLO, self.hello_payload())

    def _op_ping(self, frame):
        return None

    def _op_hello(self, frame):
        return None

    def _op_set(self, frame):
        """Change the light now, without saving: {"op": "set", "mode": ..., "bri": ...}.

        Any of LIGHT_KEYS; e.g. {"op": "set", "mode": "nightlight", "nightlight_min": 20}."""
        changes = {}
        for key in frame.payload:
            if key != "op":
                if key not in LIGHT_KEYS:
                    keys = ", ".join(LIGHT_KEYS)
                    return "set cannot change %r (light settings: %s)" % (key, keys)
                changes[key] = frame.payload[key]
        cfg = dict(self.cfg)
        problems = config.update(cfg, changes)
        if problems:
            return "; ".join(problems)
        try:
            self.renderer.configure(cfg)  # refuses what cannot work, changing nothing
            if "mode" in changes:
                self.renderer.set_mode(cfg["mode"])  # asked again: start it again
        except ValueError as e:
            return str(e)
        self.cfg = cfg
        self.festival.configure(cfg)
        return None

    def _op_config(self, frame):
        """{"op": "config", "set": {key: value}, "save": true}: validate all, apply, persist."""
        cfg = dict(self.cfg)
        changes = frame.payload.get("set", {})
        problems = config.update(cfg, changes) if changes else []
        if problems:
            return "; ".join(problems)
        try:
            self.renderer.configure(cfg)  # refuses what cannot work, changing nothing
        except ValueError as e:
            return str(e)
        self.cfg = cfg
        self.festival.configure(cfg)
        self._frame_ms = 1000 // cfg["fps"]
        if frame.payload.get("save"):
            return config.save(self.board.store, cfg)
        return None

    def _poll_sensors(self, now_ms):
        """Read the sensor FIFOs (when due) into the pipeline; each new beat goes to the pulse
        oscillator with its age. Allocation-free."""
        hub = self.hub
        if hub is None:
            return
        hub.poll(now_ms)
        while True:
            age_us = hub.take_beat_age_us(now_ms)
            if age_us < 0:
                break
            self.sync.beat_us(age_us)

    def _sensor_event(self, payload):
        self.send(proto.EVENT, payload)

    def _check_sensors(self, now_ms, first):
        """Look for the sensors on the I2C bus; report each one missing, found again or lost."""
        self._next_sensor_ms = self.clock.ticks_add(now_ms, SENSOR_RETRY_MS)
        if self.hub is not None:  # the hub looks for its chips and reports them itself
            if first:
                self.hub.start(now_ms)
            self.sensors = self.hub.status()
            return
        found = ()
        i2c = self.board.i2c
        if i2c is not None:
            try:
                found = i2c.scan()
            except Exception:  # a bus error (stuck SDA): same as no sensors, retried later
                found = ()
        for name, addr, what in SENSORS:
            now_ok = addr in found
            was = self.sensors.get(name)
            self.sensors[name] = "ok" if now_ok else "missing"
            if now_ok and was == "missing":
                self.send(proto.EVENT, {"ev": "sensor", "name": name, "state": "ok"})
            elif not now_ok and (first or was == "ok"):
                self.error(
                    "sensor",
                    "%s not found at I2C 0x%02x: check its wiring (hardware/wiring.md); "
                    "running without it" % (what, addr),
                )

    # ---------------------------------------------------------------- sleep stages, smart wake

    def _init_stages(self):
        """Epoch features, the stage classifier and the smart wake (issue 5)."""
        if not hasattr(self, "hub"):
            self.hub = None  # the sensors hub (cocoon/sensors.py), when the sensors are wired
        self.epochs = EpochFeatures()
        self.stager = None
        try:
            from cocoon.core import stage_model

            self.stager = Stager(stage_model)
        except (ImportError, ValueError, AttributeError) as e:
            self.problems.append("sleep stages off: the stage model is unusable (%s)" % (e,))
        self.wake = SmartWake()
        self.stage = -1  # the last published stage (core/stager.py numbering)
        self._night_ms = 0  # board time of lights-out (second 0 of the epoch features)
        self._stage_s = -1  # uptime second the epoch features have been given (-1: night unset)
        self._count = -1  # the latest 15-s activity count not yet given to the epoch features

    def _stages_step(self, now_ms):
        """Every step: one heart-rate value per second of uptime into the epoch features, a
        count per 15 s, stages out as they are ready; the smart wake and its sunrise."""
        if self._stage_s < 0:
            self._lights_out(now_ms)
        hub = self.hub
        if hub is not None:
            c = hub.take_count()
            if c >= 0:
                self._count = c
        while self._stage_s < self.up_s:
            self._stage_s += 1
            ef = self.epochs
            if ef.seconds % COUNT_S == COUNT_S - 1:
                # A count per 15 s of the night's own timeline (0 when the motion sensor gave
                # none), so movement stays aligned with the heart rate.
                ef.push_count(self._count if self._count > 0 else 0)
                self._count = -1
            ef.push_second(hub.hr_x10 if hub is not None else 0)
            while ef.take_epoch():
                self._publish_epoch(now_ms)
        ev = self.wake.tick(now_ms)
        if ev:
            self._wake_event(now_ms, ev)
        # The light follows the smart wake's sunrise (-1: none; back to the configured mode).
        self.renderer.set_sunrise_q15(self.wake.sunrise_q15(now_ms))

    def _lights_out(self, now_ms):
        self.epochs.reset()
        if self.stager is not None:
            self.stager.reset()
        self._night_ms = now_ms
        self._stage_s = self.up_s
        self._count = -1

    def _publish_epoch(self, now_ms):
        ef = self.epochs
        if self.stager is None:
            return
        st = self.stager
        stage = st.update(ef.count_q8, ef.hr_q12, ef.epoch_n, ef.valid)
        self.stage = stage
        self.renderer.set_stage(stage)
        p = st.prob_q15
        t_s = ef.epoch_n * EPOCH_S
        self.send(
            proto.EPOCH,
            {
                "n": ef.epoch_n,
                "t_s": t_s,
                "delay_s": ef.seconds - t_s - EPOCH_S,
                "stage": STAGE_NAMES[stage],
                "valid": ef.valid,
                "p": [(v * 100 + 16384) >> 15 for v in p],
                "wake_lo": st.wake_lo_q10 / 1024,
                "count": ef.count_q8 / 256,
                "hr_feat": ef.hr_q12 / 4096,
                "hr": ef.hr_x10 / 10 if ef.hr_x10 else None,
                "hr_rel": ef.hr_rel_x10 / 10 if ef.hr_x10 else None,
                "cov": ef.coverage_pct,
                "scale": ef.scale,
            },
        )
        start = self.clock.ticks_add(self._night_ms, t_s * 1000)
        ev = self.wake.on_epoch(now_ms, start, stage)
        if ev:
            self._wake_event(now_ms, ev)

    def _wake_event(self, now_ms, ev):
        w = self.wake
        diff = self.clock.ticks_diff
        if ev == EV_WINDOW:
            in_s = diff(w.alarm_ms, now_ms) // 1000
            self.send(proto.EVENT, {"ev": "wake_window", "alarm_in_s": in_s})
        elif ev == EV_WAKE:
            self.send(
                proto.EVENT,
                {
                    "ev": "wake",
                    "reason": REASONS[w.reason],  # light, wake (already awake) or alarm
                    "stage": STAGE_NAMES[w.stage] if w.stage >= 0 else None,
                    "epoch_t_s": diff(w.epoch_ms, self._night_ms) // 1000,
                    "full_in_s": diff(w.wake_at_ms(), now_ms) // 1000,
                    "before_alarm_s": diff(w.alarm_ms, now_ms) // 1000,
                },
            )
        elif ev == EV_FULL:
            self.send(proto.EVENT, {"ev": "wake_full"})

    def sleep_payload(self, now_ms):
        """The STATE frame's sleep fields (allocates: once per second)."""
        w = self.wake
        alarm = None
        if w.state != WAKE_IDLE:
            q = w.sunrise_q15(now_ms)
            alarm = {
                "state": WAKE_STATES[w.state],
                "in_s": self.clock.ticks_diff(w.alarm_ms, now_ms) // 1000,
                "window_min": w.window_ms // 60000,
                "sunrise_pct": (q * 100) >> 15 if q >= 0 else None,
            }
        return {
            "stage": STAGE_NAMES[self.stage] if self.stage >= 0 else None,
            "epochs": self.stager.epochs if self.stager is not None else 0,
            "night_s": self.epochs.seconds,
            "alarm": alarm,
        }

    def _op_alarm(self, frame):
        """{"op": "alarm", "in_min": 420, "window_min": 30} sets the smart wake (the sunrise ramp
        is the light's sunrise_min); {"op": "alarm", "clear": true} removes it."""
        a = frame.payload
        if a.get("clear"):
            self.wake.clear()
            return None
        if "in_min" in a:
            ahead_ms = a["in_min"] * 60000
        elif "in_s" in a:
            ahead_ms = a["in_s"] * 1000
        else:
            return "alarm needs in_min (or in_s), or clear"
        if not isinstance(ahead_ms, (int, float)) or not 1000 <= ahead_ms <= 86400000:
            return "alarm: in_min must be 1 s .. 24 h ahead"
        window = a.get("window_min", self.wake.window_ms // 60000)
        ramp_min = self.cfg.get("sunrise_min", 30)
        try:
            ramp_ms = min(60, ramp_min) * 60000
            self.wake.configure(int(window * 60000), ramp_ms, self.wake.finish_ms)
            now = self._last_ms
            self.wake.set_alarm(now, self.clock.ticks_add(now, int(ahead_ms)))
        except (ValueError, TypeError) as e:
            return str(e)
        return None

    def _op_night(self, frame):
        """{"op": "night"}: lights-out now: a new night for the epoch features and the stages."""
        self._lights_out(self._last_ms)
        return None


def run(board, safe=None, healthy=None, boots=0):
    """Build the app from the board and its stored config and run it (main.py calls this)."""
    cfg, problems = config.load(board.store)
    app = App(board, cfg, problems, safe=safe, healthy=healthy, boots=boots)
    try:
        app.run()
    except KeyboardInterrupt:
        # Ctrl-C (mpremote, a person at the REPL): stop here with the REPL free. A watchdog that
        # cannot be stopped (ESP32) is parked with a long timeout by the port.
        park = getattr(board.wdt, "park", None)
        if park is not None:
            park()
        raise
    return app
