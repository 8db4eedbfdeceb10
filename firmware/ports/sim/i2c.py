"""A simulated machine.I2C bus carrying the virtual board's sensor chips.

    bus = SimI2C(clock, scenario.build("synthetic:bpm=60", clock))
    bus.scan()  # -> [0x57, 0x68]; bus.readfrom_mem_into(0x57, 0xFF, buf) reads PART_ID 0x15

The methods follow machine.I2C (readfrom_mem_into, readfrom_mem, writeto_mem, readfrom_into,
writeto, scan). A device that does not answer raises OSError(19) (ENODEV), as the ESP32 port does
when the address is not acknowledged (ports/esp32/machine_i2c.c: ESP_FAIL -> MP_ENODEV; a bus
timeout would be ETIMEDOUT, 116). Each access first lets the chip catch up with virtual time, so
its FIFO holds exactly what a real chip would hold after that much time.
"""

from chips.max30102 import MAX30102
from chips.mpu6050 import MPU6050

ENODEV = 19
_MASK_US = (1 << 30) - 1


class StepClock:
    """A clock that moves only when told (tests and evaluations); same API as the board's clock."""

    def __init__(self, start_us=0):
        self.t_us = start_us

    def advance_us(self, dt_us):
        self.t_us += dt_us

    def ticks_us(self):
        return self.t_us & _MASK_US

    def ticks_ms(self):
        return (self.t_us // 1000) & _MASK_US

    def ticks_diff(self, a, b):
        return ((a - b + (1 << 29)) & _MASK_US) - (1 << 29)

    def ticks_add(self, t, d):
        return (t + d) & _MASK_US

    def sleep_ms(self, ms):
        self.t_us += ms * 1000


class SimI2C:
    def __init__(self, clock, scenario=None, chips=None, freq=400000):
        self.clock = clock
        self.freq = freq
        if chips is None:
            chips = (MAX30102(scenario), MPU6050(scenario))
        self.chips = {}
        for c in chips:
            self.chips[c.address] = c
        self._world = hasattr(clock, "world_us")
        self._t_us = 0
        self._last_us = clock.ticks_us()
        self._last_ms = clock.ticks_ms()
        self.transactions = 0

    def now_us(self):
        """Virtual microseconds, without wrap: the board clock's world time (since the board was
        first switched on, across resets) when it has one, else accumulated from its ticks."""
        c = self.clock
        if self._world:
            return c.world_us()
        us, ms = c.ticks_us(), c.ticks_ms()
        d_ms = c.ticks_diff(ms, self._last_ms)
        if d_ms > 400000:  # beyond what a microsecond tick difference can tell apart
            d_us = d_ms * 1000
        else:
            d_us = c.ticks_diff(us, self._last_us)
        self._last_us, self._last_ms = us, ms
        if d_us > 0:
            self._t_us += d_us
        return self._t_us

    def _chip(self, addr):
        self.transactions += 1
        chip = self.chips.get(addr)
        now = self.clock.world_us() if self._world else self.now_us()
        if chip is None or not (chip.always_present or chip.present(now)):
            raise OSError(ENODEV)
        due = chip.next_us
        if 0 <= due <= now:
            chip.advance(now)  # the samples made since the last access
        else:
            chip.now_us = now
        return chip

    def scan(self):
        now = self.now_us()
        return [a for a in sorted(self.chips) if self.chips[a].present(now)]

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._chip(addr).read_into(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self._chip(addr).read_into(memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        self._chip(addr).write(memaddr, buf)

    # Plain transfers: the first byte written is the register address (both chips work this way).
    def writeto(self, addr, buf, stop=True):
        chip = self._chip(addr)
        if len(buf):
            chip.pointer = buf[0]
            chip.write(buf[0], buf[1:])
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        chip = self._chip(addr)
        chip.read_into(getattr(chip, "pointer", 0), buf)

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf)
        return bytes(buf)
