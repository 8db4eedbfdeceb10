"""The one error a sensor driver raises: a chip missing, vanished, or not the expected part.

    try: ppg.init()
    except ChipError as e: report(e.chip, str(e))   # e.errno: 19 ENODEV, 116 ETIMEDOUT, 5 EIO ...

A ChipError is an OSError, so code that already catches bus errors catches it too.
"""

ENODEV = 19  # the ESP32 port's answer when nobody acknowledges the address
EIO = 5


class ChipError(OSError):
    def __init__(self, chip, errno_, what):
        super().__init__(errno_, what)
        self.chip = chip


def bus_error(chip, address, err):
    """Turn the bus's OSError into a ChipError that names the chip and its address."""
    code = err.args[0] if err.args and isinstance(err.args[0], int) else EIO
    return ChipError(chip, code, "%s at 0x%02x does not answer (errno %d)" % (chip, address, code))


class RegisterChip:
    """What every register-level driver shares: one-byte register access that turns any bus
    error into a ChipError naming the chip and marks the driver not ready until init() again.
    A subclass sets CHIP and, in __init__, i2c, address, ready and a scratch `_b1 = bytearray(1)`.
    """

    CHIP = "chip"

    def _read(self, reg):
        try:
            self.i2c.readfrom_mem_into(self.address, reg, self._b1)
        except OSError as e:
            self._fail(e)
        return self._b1[0]

    def _write(self, reg, value):
        self._b1[0] = value
        try:
            self.i2c.writeto_mem(self.address, reg, self._b1)
        except OSError as e:
            self._fail(e)

    def _fail(self, err):
        self.ready = False
        if isinstance(err, ChipError):
            raise err
        raise bus_error(self.CHIP, self.address, err)
