# The MAX30102 driver against the simulated chip (firmware/ports/sim/chips/max30102.py).
import sys
from array import array

sys.path.append(__file__.rsplit("/", 1)[0])

import micropython  # noqa: E402
import simbus  # noqa: E402
from chips.max30102 import MAX30102 as SimChip  # noqa: E402
from cocoon.drivers.chip import ChipError  # noqa: E402
from cocoon.drivers.max30102 import MAX30102  # noqa: E402
from mpt import is_micropython, raises  # noqa: E402

LED_MA = 7.2  # the driver's default LED current


class Ramp:
    """A scenario whose k-th sample (at 100 samples/s) reads exactly k counts on both LEDs."""

    def __init__(self, counts_per_step=1):
        self.step = counts_per_step

    def present(self, chip, t_us):
        return True

    def ppg(self, t_us):
        k = (t_us // 10000 + 1) * self.step
        na_per_ma = (k + 0.5) * 4096 / (LED_MA * 262144)
        return na_per_ma, na_per_ma


def ramp_bus():
    clock = simbus.i2c.StepClock()
    chip = SimChip(Ramp())
    return clock, chip, simbus.i2c.SimI2C(clock, chips=(chip,))


def buffers():
    return array("i", [0] * 32), array("i", [0] * 32)


def test_init_identifies_and_configures_the_chip():
    clock, sc, bus = simbus.make()
    ppg = MAX30102(bus)
    ppg.init()
    assert ppg.ready
    assert bus.readfrom_mem(0x57, 0xFF, 1) == b"\x15"  # PART_ID
    assert bus.readfrom_mem(0x57, 0x09, 1) == b"\x03"  # SpO2 mode: red + IR
    # ADC range 4096 nA (1), 400 samples/s (3), 411 us pulses (3)
    assert bus.readfrom_mem(0x57, 0x0A, 1)[0] == (1 << 5) | (3 << 2) | 3
    assert bus.readfrom_mem(0x57, 0x08, 1)[0] >> 5 == 2  # average 4 -> 100 samples/s
    assert bus.readfrom_mem(0x57, 0x0C, 2) == bytes([36, 36])  # 7.2 mA = 36 x 0.2 mA
    assert ppg.period_us == 10000


def test_reads_every_sample_the_chip_makes():
    clock, sc, bus = simbus.make()
    ppg = MAX30102(bus)
    ppg.init()
    red, ir = buffers()
    made = bus.chips[0x57].samples_made
    total = 0
    for _ in range(20):
        clock.advance_us(50000)
        n = ppg.read(red, ir)
        total += n
        assert ppg.lost == 0
        for i in range(n):
            assert 0 < red[i] < ir[i] < 262144  # a fingertip: IR reflects more than red
    assert total == bus.chips[0x57].samples_made - made == 100


def test_pointers_wrap_without_losing_or_reordering_samples():
    clock, chip, bus = ramp_bus()
    ppg = MAX30102(bus)
    ppg.init()
    red, ir = buffers()
    seen = []
    wrapped = 0
    last_wr = 0
    for step_us in (70000, 130000, 90000, 250000, 10000, 310000) * 4:
        clock.advance_us(step_us)
        n = ppg.read(red, ir)
        assert ppg.lost == 0
        for i in range(n):
            assert red[i] == ir[i]
            seen.append(ir[i])
        if chip.wr < last_wr:
            wrapped += 1
        last_wr = chip.wr
    assert wrapped >= 10
    first = seen[0]
    assert seen == list(range(first, first + len(seen)))


def test_overflow_reports_lost_samples_and_reading_goes_on():
    clock, chip, bus = ramp_bus()
    ppg = MAX30102(bus)
    ppg.init()
    red, ir = buffers()
    clock.advance_us(1000000)  # 100 samples made, the FIFO holds 32
    assert ppg.available() == 32
    n = ppg.read(red, ir)
    assert n == 32
    assert ppg.lost == 31  # OVF_COUNTER saturates at 31 (68 were lost)
    first = ir[0]
    assert [ir[i] for i in range(32)] == list(range(first, first + 32))
    assert chip.ovf == 0  # popping a sample resets the counter
    clock.advance_us(100000)
    n = ppg.read(red, ir)
    assert n == 10 and ppg.lost == 0
    assert ir[0] == first + 100  # the 68 samples after the full FIFO are gone
    assert ppg.lost_total == 31


def test_short_pulses_give_left_justified_15_bit_samples():
    clock, sc, bus = simbus.make()
    ppg = MAX30102(bus, rate_sps=100, average=1, pulse_width_us=69)
    ppg.init()
    red, ir = buffers()
    clock.advance_us(300000)
    n = ppg.read(red, ir)
    assert n == 30
    assert all(ir[i] % 8 == 0 and red[i] % 8 == 0 for i in range(n))
    ppg18 = MAX30102(bus)
    ppg18.init()
    clock.advance_us(300000)
    n = ppg18.read(red, ir)
    assert any(ir[i] % 8 for i in range(n))  # 18 bits: the low bits carry information


def test_flooded_photodiode_clips_at_full_scale():
    clock, sc, bus = simbus.make("synthetic:saturate_at=0,saturate_for=10")
    ppg = MAX30102(bus)
    ppg.init()
    red, ir = buffers()
    clock.advance_us(200000)
    n = ppg.read(red, ir)
    assert n == 20
    assert all(ir[i] == 0x3FFFF for i in range(n))
    assert bus.readfrom_mem(0x57, 0x00, 1)[0] & 0x20  # ALC_OVF: ambient light overflow


def test_missing_chip_is_one_clear_error():
    clock = simbus.i2c.StepClock()
    bus = simbus.i2c.SimI2C(clock, chips=())
    ppg = MAX30102(bus)
    e = raises(ChipError, ppg.init)
    assert e.errno == 19  # ENODEV, as the ESP32 port reports an unacknowledged address
    assert "MAX30102" in str(e) and "0x57" in str(e)
    assert e.chip == "MAX30102"
    assert isinstance(e, OSError)
    assert not ppg.ready


class OtherPart(SimChip):
    def power_on_reset(self, now_us):
        super().power_on_reset(now_us)
        self.regs[0xFF] = 0x11  # a MAX30100 answers at the same address


def test_another_part_is_refused():
    clock = simbus.i2c.StepClock()
    bus = simbus.i2c.SimI2C(clock, chips=(OtherPart(None),))
    e = raises(ChipError, MAX30102(bus).init)
    assert "part id 0x11" in str(e)


def test_chip_that_vanishes_and_comes_back_is_recovered_by_init():
    clock, sc, bus = simbus.make("synthetic:drop_at=2,back_at=4,motion=0")
    ppg = MAX30102(bus)
    ppg.init()
    red, ir = buffers()
    got = 0
    while clock.t_us < 1900000:
        clock.advance_us(100000)
        got += ppg.read(red, ir)
    assert got == 190
    clock.advance_us(200000)  # 2.1 s: gone
    e = raises(ChipError, ppg.read, red, ir)
    assert e.errno == 19
    assert not ppg.ready
    clock.advance_us(1000000)
    raises(ChipError, ppg.init)  # still gone at 3.1 s
    clock.advance_us(1000000)  # 4.1 s: back, power-cycled (registers at their reset values)
    assert bus.readfrom_mem(0x57, 0x09, 1) == b"\x00"
    ppg.init()
    assert ppg.ready
    clock.advance_us(100000)
    assert ppg.read(red, ir) == 10


def test_die_temperature():
    clock, sc, bus = simbus.make()
    ppg = MAX30102(bus)
    ppg.init()
    assert ppg.temperature_c_x16() == 31 * 16 + 4  # the sim's die is at 31.25 degC


def test_bad_settings_are_refused_at_construction():
    clock, sc, bus = simbus.make()
    raises(ValueError, MAX30102, bus, rate_sps=100, average=3)
    raises(ValueError, MAX30102, bus, rate_sps=300, average=1)
    raises(ValueError, MAX30102, bus, pulse_width_us=100)


class StillBus:
    """A bus that answers from fixed bytes and allocates nothing (for the heap_lock test)."""

    def __init__(self):
        self.ptrs = bytes([12, 0, 2])  # write pointer 12, no overflow, read pointer 2: 10 samples
        self.data = bytes([0x01, 0x23, 0x45, 0x02, 0x46, 0x8A] * 32)

    def readfrom_mem_into(self, addr, reg, buf):
        src = self.ptrs if reg == 0x04 else self.data
        for i in range(len(buf)):
            buf[i] = src[i]

    def writeto_mem(self, addr, reg, buf):
        pass


def test_fifo_read_allocates_nothing():
    ppg = MAX30102(StillBus())
    red, ir = buffers()
    ppg.read(red, ir)  # warm up
    if is_micropython():
        micropython.heap_lock()
    try:
        n = ppg.read(red, ir)
    finally:
        if is_micropython():
            micropython.heap_unlock()
    assert n == 10
    assert red[9] == 0x012345 & 0x3FFFF and ir[9] == 0x02468A & 0x3FFFF
