"""Fake Board parts for app tests, on both interpreters (docs/design.md, The Board object).

    board = appfakes.board(n=8, devices=(0x57,))
    app.App(board).run(until_ms=3000); frames = appfakes.frames(board)

The clock wraps its ticks at 2^30 like the ESP32 and only advances through sleep_ms/advance, so a
test can replay minutes of board time in milliseconds of real time. Nothing here allocates on the
steady path (show, readinto with no input, feed, the clock), so heap_lock tests stay honest.
"""

from cocoon import proto

_PERIOD = 1 << 30
_MASK = _PERIOD - 1
_HALF = _PERIOD >> 1


class Clock:
    def __init__(self, start_ms=0):
        self.t_us = start_ms * 1000

    def ticks_ms(self):
        return (self.t_us // 1000) & _MASK

    def ticks_us(self):
        return self.t_us & _MASK

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    def ticks_add(self, t, d):
        return (t + d) & _MASK

    def sleep_ms(self, n):
        self.t_us += n * 1000

    def advance_ms(self, n):
        self.t_us += n * 1000


class Strip:
    def __init__(self, n, record=False):
        self.n = n
        self.shows = 0
        self.last = bytearray(3 * n)
        self.record = [] if record else None

    def show(self, rgb):
        self.shows += 1
        self.last[:] = rgb
        if self.record is not None:
            self.record.append(bytes(rgb))


class Serial:
    def __init__(self):
        self.out = bytearray()
        self.inbox = b""

    def write(self, b):
        self.out.extend(b)

    def readinto(self, buf):
        if not self.inbox:
            return 0
        n = min(len(buf), len(self.inbox))
        buf[:n] = self.inbox[:n]
        self.inbox = self.inbox[n:]
        return n


class I2C:
    def __init__(self, devices=()):
        self.devices = list(devices)

    def scan(self):
        return list(self.devices)


class Store:
    def __init__(self, data=None, fail=False):
        self.data = data
        self.fail = fail

    def read(self):
        if self.fail:
            raise OSError(5)
        return self.data

    def write(self, b):
        if self.fail:
            raise OSError(28)
        self.data = bytes(b)


class WDT:
    def __init__(self):
        self.feeds = 0
        self.parked = False

    def feed(self):
        self.feeds += 1

    def park(self):
        self.parked = True


class Board:
    pass


def board(n=8, devices=(0x57, 0x68), store=None, start_ms=0, record=False):
    b = Board()
    b.clock = Clock(start_ms)
    b.i2c = I2C(devices)
    b.strip = Strip(n, record)
    b.serial = Serial()
    b.radio = None
    b.wdt = WDT()
    b.store = store if store is not None else Store()
    b.name = "fake"
    b.info = {"test": True}
    return b


def frames(b, parser=None):
    """Every frame the board has written so far (clears the output)."""
    p = parser or proto.Parser()
    out = p.feed(bytes(b.serial.out))
    b.serial.out = bytearray()
    return out


def of_type(fs, ftype):
    return [f for f in fs if f.type == ftype]
