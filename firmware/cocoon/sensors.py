"""The sensors: drivers, FIFO polling, the heart and motion pipeline, and chips that come and go.

    s = Sensors(board.i2c, on_error, on_event); s.start(now_ms)
    s.poll(now_ms)            # every loop: reads the FIFOs when due, feeds beats and activity
    age_us = s.take_beat_age_us(now_ms)   # -1 or how long ago the next unread beat happened
    s.hr_x10, s.quality, s.rmssd_ms; c = s.take_count()   # -1 or the last 15-s activity count

A chip that is missing at boot, or stops answering later, is reported once (on_error("sensor",
msg)), looked for again every RETRY_MS, and reported again when it answers (on_event({"ev":
"sensor", "name": ..., "state": "ok"})); the rest of the firmware keeps running meanwhile and the
heart rate reads 0 ("no reading"). A chip that comes back is configured again from scratch (it may
have lost power). Steady-state polling allocates nothing.
"""

from array import array

from micropython import const

from cocoon.core.activity import ActivityCounter
from cocoon.core.beats import TICKS_MASK, BeatDetector, ticks_diff
from cocoon.drivers.chip import ChipError
from cocoon.drivers.max30102 import MAX30102
from cocoon.drivers.mpu6050 import MPU6050

POLL_MS = const(100)  # the MAX30102 FIFO holds 320 ms at 100 samples/s; the MPU-6050's 3.4 s
RETRY_MS = const(2000)
_RESET_AFTER_MS = const(10000)  # a chip away longer than this: the pipeline starts afresh
_IMU_CHUNK = const(32)

OK = "ok"
MISSING = "missing"  # never answered since boot
LOST = "lost"  # answered, then stopped


class _Chip:
    def __init__(self, name, what, driver):
        self.name = name
        self.what = what
        self.driver = driver
        self.state = MISSING
        self.next_try_ms = 0
        self.lost_ms = 0
        self.faults = 0


class Sensors:
    def __init__(self, i2c, on_error=None, on_event=None, sleep_ms=None):
        self.on_error = on_error
        self.on_event = on_event
        self.sleep_ms = sleep_ms
        ppg = MAX30102(i2c)
        imu = MPU6050(i2c)
        self.ppg = _Chip("ppg", "MAX30102 heart sensor", ppg)
        self.imu = _Chip("imu", "MPU-6050 motion sensor", imu)
        self.beats = BeatDetector(ppg.period_us)
        self.activity = ActivityCounter(imu.rate_hz, imu.lsb_per_g)
        self._red = array("i", [0] * 32)
        self._ir = array("i", [0] * 32)
        self._ax = array("i", [0] * _IMU_CHUNK)
        self._ay = array("i", [0] * _IMU_CHUNK)
        self._az = array("i", [0] * _IMU_CHUNK)
        self._next_poll_ms = 0
        self._poll_ms = 0  # board time of the last FIFO read
        self.samples = 0

    # -- what the app reads --------------------------------------------------------------------
    @property
    def hr_x10(self):
        return self.beats.hr_x10 if self.ppg.state == OK else 0

    @property
    def quality(self):
        return self.beats.quality if self.ppg.state == OK else 0

    @property
    def rmssd_ms(self):
        return self.beats.rmssd_ms if self.ppg.state == OK else 0

    def status(self):
        """name -> "ok" / "missing" / "lost" (allocates: for telemetry)."""
        return {"ppg": self.ppg.state, "imu": self.imu.state}

    def state_payload(self):
        """The STATE frame's heart and motion fields (allocates: once per second)."""
        b = self.beats
        hr = self.hr_x10
        return {
            "hr": hr / 10 if hr else None,
            "q": self.quality,
            "rmssd": self.rmssd_ms or None,
            "finger": b.contact if self.ppg.state == OK else None,
            "act": self.activity.last_second_max if self.imu.state == OK else None,
        }

    def take_beat_age_us(self, now_ms):
        """How long before now_ms the oldest unread beat happened (us), or -1 if none."""
        t = self.beats.take_beat()
        if t < 0:
            return -1
        # beat time and the newest sample are on the sensor's timeline; that sample is "now" at
        # the last FIFO read
        age = ticks_diff(self.beats.t_us, t) + 1000 * ticks_diff(now_ms, self._poll_ms)
        return age & TICKS_MASK if age >= 0 else 0

    def take_count(self):
        return self.activity.take_count()

    # -- the loop ------------------------------------------------------------------------------
    def start(self, now_ms):
        self._try_init(self.ppg, now_ms, True)
        self._try_init(self.imu, now_ms, True)
        self._next_poll_ms = now_ms

    def poll(self, now_ms):
        """Read the FIFOs every POLL_MS; retry absent chips every RETRY_MS."""
        if ticks_diff(now_ms & TICKS_MASK, self._next_poll_ms) < 0:
            return
        self._next_poll_ms = (now_ms + POLL_MS) & TICKS_MASK
        self._poll_ms = now_ms
        self._poll_chip(self.ppg, now_ms)
        self._poll_chip(self.imu, now_ms)

    def _poll_chip(self, chip, now_ms):
        if chip.state != OK:
            if ticks_diff(now_ms & TICKS_MASK, chip.next_try_ms) >= 0:
                self._try_init(chip, now_ms, False)
            return
        try:
            if chip is self.ppg:
                self._read_ppg()
            else:
                self._read_imu()
        except ChipError as e:
            self._lost(chip, now_ms, e)

    def _read_ppg(self):
        drv = self.ppg.driver
        n = drv.read(self._red, self._ir)
        if drv.lost:
            self.beats.gap(drv.lost)  # 31 means "31 or more": the chain breaks either way
        if n:
            self.beats.feed(self._ir, n)
            self.samples += n

    def _read_imu(self):
        drv = self.imu.driver
        while True:
            n = drv.read_fifo(self._ax, self._ay, self._az)
            if drv.overflowed:
                self.activity.gap(170)  # a full FIFO's worth, at least, was lost
                return
            if n:
                self.activity.feed(self._ax, self._ay, self._az, n)
            if n < _IMU_CHUNK:
                return

    # -- faults --------------------------------------------------------------------------------
    def _try_init(self, chip, now_ms, first):
        chip.next_try_ms = (now_ms + RETRY_MS) & TICKS_MASK
        try:
            chip.driver.init(self.sleep_ms)
        except ChipError as e:
            if first and self.on_error is not None:
                self.on_error(
                    "sensor",
                    "%s: %s; check its wiring (hardware/wiring.md), running without it"
                    % (chip.what, e.args[1] if len(e.args) > 1 else e),
                )
            return
        was = chip.state
        chip.state = OK
        if was == LOST:
            away_ms = ticks_diff(now_ms & TICKS_MASK, chip.lost_ms)
            if chip is self.ppg:
                if away_ms > _RESET_AFTER_MS:
                    self.beats.reset()
                else:
                    self.beats.gap((away_ms * 1000) // self.beats.period_us)
            else:
                self.activity.gap(away_ms * self.imu.driver.rate_hz // 1000)
        if was != OK and not first and self.on_event is not None:
            self.on_event({"ev": "sensor", "name": chip.name, "state": OK})

    def _lost(self, chip, now_ms, err):
        chip.state = LOST
        chip.faults += 1
        chip.lost_ms = now_ms & TICKS_MASK
        chip.next_try_ms = (now_ms + RETRY_MS) & TICKS_MASK
        if self.on_error is not None:
            self.on_error(
                "sensor",
                "%s stopped answering (%s); retrying every %d s"
                % (chip.what, err.args[1] if len(err.args) > 1 else err, RETRY_MS // 1000),
            )
