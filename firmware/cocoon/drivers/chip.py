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
