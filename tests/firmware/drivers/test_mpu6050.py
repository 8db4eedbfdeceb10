# The MPU-6050 driver against the simulated chip (firmware/ports/sim/chips/mpu6050.py).
import sys
from array import array

sys.path.append(__file__.rsplit("/", 1)[0])

import micropython  # noqa: E402
import simbus  # noqa: E402
from chips.mpu6050 import MPU6050 as SimChip  # noqa: E402
from cocoon.drivers.chip import ChipError  # noqa: E402
from cocoon.drivers.mpu6050 import MPU6050  # noqa: E402
from mpt import is_micropython, raises  # noqa: E402


class Tilted:
    """Gravity split over two axes; a scenario with no noise and no movement."""

    def present(self, chip, t_us):
        return True

    def accel(self, t_us):
        return (0.6, -0.8, 0.0)


def axes(n=32):
    return array("i", [0] * n), array("i", [0] * n), array("i", [0] * n)


def test_init_wakes_and_configures_the_chip():
    clock, sc, bus = simbus.make()
    assert bus.readfrom_mem(0x68, 0x6B, 1) == b"\x40"  # asleep at power-on
    imu = MPU6050(bus)
    imu.init()
    assert imu.ready
    assert bus.readfrom_mem(0x68, 0x75, 1) == b"\x68"  # WHO_AM_I
    assert bus.readfrom_mem(0x68, 0x6B, 1) == b"\x01"  # awake, PLL on the X gyro
    assert bus.readfrom_mem(0x68, 0x19, 1) == bytes([19])  # 1 kHz / (1 + 19) = 50 Hz
    assert bus.readfrom_mem(0x68, 0x1A, 1) == b"\x04"  # DLPF 21 Hz
    assert bus.readfrom_mem(0x68, 0x1C, 1) == b"\x00"  # +-2 g
    assert bus.readfrom_mem(0x68, 0x6A, 1)[0] & 0x40  # FIFO on
    assert imu.lsb_per_g == 16384


def test_burst_read_is_big_endian_and_scaled_by_range():
    clock = simbus.i2c.StepClock()
    bus = simbus.i2c.SimI2C(clock, chips=(SimChip(Tilted()),))
    xyz = array("i", [0, 0, 0])
    for range_g, lsb in ((2, 16384), (4, 8192), (8, 4096), (16, 2048)):
        imu = MPU6050(bus, range_g=range_g, use_fifo=False)
        imu.init()
        clock.advance_us(30000)
        imu.read_accel(xyz)
        assert imu.lsb_per_g == lsb
        assert list(xyz) == [int(0.6 * lsb), int(-0.8 * lsb), 0]
    raw = bus.readfrom_mem(0x68, 0x3B, 4)
    assert raw == bytes([(1228 >> 8) & 0xFF, 1228 & 0xFF, (-1638 >> 8) & 0xFF, -1638 & 0xFF])


def test_fifo_delivers_every_sample_at_50_hz():
    clock, sc, bus = simbus.make("synthetic:motion=0")
    imu = MPU6050(bus)
    imu.init()
    ax, ay, az = axes()
    total = 0
    for _ in range(30):
        clock.advance_us(100000)
        n = imu.read_fifo(ax, ay, az)
        total += n
        for i in range(n):
            assert 16000 < az[i] < 16800 and -400 < ax[i] < 400  # lying still: 1 g on z
    assert total == 150
    assert not imu.overflowed


def test_fifo_reads_more_than_the_buffer_in_several_calls():
    clock, sc, bus = simbus.make("synthetic:motion=0")
    imu = MPU6050(bus)
    imu.init()
    ax, ay, az = axes(20)
    clock.advance_us(1000000)  # 50 samples waiting
    got = [imu.read_fifo(ax, ay, az) for _ in range(4)]
    assert got == [20, 20, 10, 0]


def test_fifo_overflow_is_reported_and_reset():
    clock, sc, bus = simbus.make("synthetic:motion=0")
    imu = MPU6050(bus)
    imu.init()
    ax, ay, az = axes()
    clock.advance_us(4000000)  # 200 samples > 170: the 1024-byte FIFO overflowed
    assert imu.read_fifo(ax, ay, az) == 0
    assert imu.overflowed and imu.overflows == 1
    assert bus.readfrom_mem(0x68, 0x72, 2) == b"\x00\x00"  # reset: empty and aligned again
    clock.advance_us(200000)
    assert imu.read_fifo(ax, ay, az) == 10
    assert not imu.overflowed
    assert all(16000 < az[i] < 16800 for i in range(10))  # aligned: z is z again


def test_missing_and_vanishing_chip():
    clock = simbus.i2c.StepClock()
    imu = MPU6050(simbus.i2c.SimI2C(clock, chips=()))
    e = raises(ChipError, imu.init)
    assert e.errno == 19 and "MPU6050" in str(e) and "0x68" in str(e)
    clock, sc, bus = simbus.make("synthetic:drop_at=1,back_at=2,drop_chip=mpu6050")
    imu = MPU6050(bus)
    imu.init()
    ax, ay, az = axes()
    clock.advance_us(500000)
    assert imu.read_fifo(ax, ay, az) == 25
    clock.advance_us(1000000)
    raises(ChipError, imu.read_fifo, ax, ay, az)
    assert not imu.ready
    clock.advance_us(1000000)
    imu.init()  # back (power-cycled): configured again
    clock.advance_us(200000)
    assert imu.read_fifo(ax, ay, az) == 10


def test_another_device_is_refused():
    clock = simbus.i2c.StepClock()
    chip = SimChip(None)
    bus = simbus.i2c.SimI2C(clock, chips=(chip,))
    reset = chip.power_on_reset

    def other(now_us):
        reset(now_us)
        chip.regs[0x75] = 0x70  # an MPU-9250's WHO_AM_I... or anything else

    chip.power_on_reset = other
    e = raises(ChipError, MPU6050(bus).init)
    assert "WHO_AM_I 0x70" in str(e)


def test_bad_settings_are_refused_at_construction():
    clock, sc, bus = simbus.make()
    raises(ValueError, MPU6050, bus, range_g=3)
    raises(ValueError, MPU6050, bus, rate_hz=33)
    raises(ValueError, MPU6050, bus, dlpf_cfg=0)


class StillBus:
    """Answers FIFO_COUNT = 60 bytes (10 samples) and fixed data; allocates nothing."""

    def readfrom_mem_into(self, addr, reg, buf):
        if reg == 0x3A:
            buf[0] = 0
        elif reg == 0x72:
            buf[0] = 0
            buf[1] = 60
        else:
            for i in range(len(buf)):
                buf[i] = (0x40, 0x00, 0xC0, 0x00, 0x00, 0x10)[i % 6]

    def writeto_mem(self, addr, reg, buf):
        pass


def test_fifo_read_allocates_nothing():
    imu = MPU6050(StillBus())
    ax, ay, az = axes()
    imu.read_fifo(ax, ay, az)
    if is_micropython():
        micropython.heap_lock()
    try:
        n = imu.read_fifo(ax, ay, az)
    finally:
        if is_micropython():
            micropython.heap_unlock()
    assert n == 10
    assert (ax[9], ay[9], az[9]) == (16384, -16384, 16)
