# The sensors hub (cocoon/sensors.py) on its own: polling, allocation, faults. Both interpreters.
import sys

sys.path.append(__file__.rsplit("/", 1)[0])

import micropython  # noqa: E402
import simbus  # noqa: E402
from cocoon.sensors import LOST, MISSING, OK, POLL_MS, Sensors  # noqa: E402
from mpt import is_micropython  # noqa: E402


class QuietBus:
    """Both chips as fixed answers, without allocating: 10 PPG samples (a slow pulse) and 5
    accelerometer samples per read."""

    def __init__(self):
        self.k = 0

    def readfrom_mem_into(self, addr, reg, buf):
        if addr == 0x57:
            if reg == 0x04:  # WR_PTR, OVF, RD_PTR: 10 samples waiting
                buf[0] = 10
                buf[1] = 0
                buf[2] = 0
            elif reg == 0x07:
                for i in range(0, len(buf), 6):
                    self.k += 1
                    v = 100000 - (3000 if self.k % 80 < 10 else 0)
                    buf[i] = buf[i + 3] = v >> 16
                    buf[i + 1] = buf[i + 4] = (v >> 8) & 0xFF
                    buf[i + 2] = buf[i + 5] = v & 0xFF
            else:
                buf[0] = 0x15 if reg == 0xFF else 0
        elif addr == 0x68:
            if reg == 0x72:
                buf[0] = 0
                buf[1] = 30
            elif reg == 0x74:
                for i in range(len(buf)):
                    buf[i] = 0x40 if i % 6 == 4 else 0
            else:
                buf[0] = 0x68 if reg == 0x75 else 0
        else:
            raise OSError(19)

    def writeto_mem(self, addr, reg, buf):
        pass


def test_steady_polling_allocates_nothing():
    hub = Sensors(QuietBus())
    hub.start(0)
    t = 0
    for _ in range(30):
        t += POLL_MS
        hub.poll(t)
    before = hub.samples
    if is_micropython():
        micropython.heap_lock()
    try:
        for _ in range(20):
            t += POLL_MS
            hub.poll(t)
            hub.take_beat_age_us(t)
            hub.take_count()
    finally:
        if is_micropython():
            micropython.heap_unlock()
    assert hub.samples == before + 200
    assert hub.status() == {"ppg": OK, "imu": OK}


def test_polls_only_when_due():
    clock, sc, bus = simbus.make("synthetic:motion=0")
    hub = Sensors(bus)
    hub.start(0)
    hub.poll(0)
    n = bus.transactions
    clock.advance_us(POLL_MS * 500)
    hub.poll(POLL_MS // 2)
    assert bus.transactions == n  # not due yet: the bus is left alone
    clock.advance_us(POLL_MS * 500)
    hub.poll(POLL_MS)
    assert bus.transactions > n


def test_faults_are_reported_once_and_recovered():
    errors = []
    events = []
    clock, sc, bus = simbus.make("synthetic:drop_at=3,back_at=6,drop_chip=mpu6050")
    hub = Sensors(bus, lambda code, msg: errors.append(msg), events.append)
    t = 0
    hub.start(t)
    while t < 10000:
        t += 20
        clock.advance_us(20000)
        hub.poll(t)
        if t == 4000:
            assert hub.imu.state == LOST and hub.ppg.state == OK
    assert len(errors) == 1 and "MPU-6050" in errors[0]
    assert events == [{"ev": "sensor", "name": "imu", "state": "ok"}]
    assert hub.imu.state == OK and hub.imu.faults == 1


def test_missing_at_boot_reads_zero_and_says_why():
    errors = []
    clock = simbus.i2c.StepClock()
    hub = Sensors(simbus.i2c.SimI2C(clock, chips=()), lambda c, m: errors.append(m))
    hub.start(0)
    assert hub.status() == {"ppg": MISSING, "imu": MISSING}
    assert hub.hr_x10 == 0 and hub.quality == 0 and hub.take_beat_age_us(0) == -1
    assert len(errors) == 2 and "wiring" in errors[0]
    p = hub.state_payload()
    assert p["hr"] is None and p["finger"] is None and p["act"] is None
