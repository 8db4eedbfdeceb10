"""MPU-6050 motion sensor (accelerometer): wake, identify, configure, and read accelerations.

    imu = MPU6050(i2c); imu.init()              # ChipError if it is missing or not an MPU-6050
    n = imu.read_fifo(ax, ay, az)               # array('i') of >= 16 each, raw counts; or
    imu.read_accel(xyz)                         # the newest sample only (burst read at 0x3B)

Register map: InvenSense RM-MPU-6000A-00 rev 4.2 (section numbers in the comments). The FIFO keeps
the exact sample rate whatever the caller's loop timing; it holds 1024 bytes = 170 samples of 6
bytes (3.4 s at 50 Hz): call read_fifo() at least that often. When it overflows, its byte stream is
no longer aligned to samples (1024 is not a multiple of 6), so the driver resets it and reports
`overflowed`. Buffers are allocated once; reads do not allocate. A bus error raises ChipError;
init() recovers.
"""

from micropython import const

from cocoon.drivers.chip import EIO, ChipError, RegisterChip

ADDRESS = const(0x68)  # 0x69 with AD0 high
WHO_AM_I = const(0x68)  # the upper 6 bits of the address; AD0 does not change it (4.32)

_SMPLRT_DIV = const(0x19)
_CONFIG = const(0x1A)
_GYRO_CONFIG = const(0x1B)
_ACCEL_CONFIG = const(0x1C)
_FIFO_EN = const(0x23)
_INT_ENABLE = const(0x38)
_INT_STATUS = const(0x3A)
_ACCEL_XOUT_H = const(0x3B)
_USER_CTRL = const(0x6A)
_PWR_MGMT_1 = const(0x6B)
_FIFO_COUNT_H = const(0x72)
_FIFO_R_W = const(0x74)
_WHO_AM_I = const(0x75)

_DEVICE_RESET = const(0x80)
_CLK_PLL_XGYRO = const(0x01)  # 4.28: a gyro PLL clock is recommended over the 8 MHz oscillator
_FIFO_ACCEL = const(0x08)  # 4.7 ACCEL_FIFO_EN
_USER_FIFO_EN = const(0x40)  # 4.27
_USER_FIFO_RESET = const(0x04)
_FIFO_OFLOW = const(0x10)  # 4.16
_CHUNK = const(16)  # samples per FIFO burst
_RESET_POLLS = const(50)


class MPU6050(RegisterChip):
    """One MPU-6050 on an I2C bus (machine.I2C semantics)."""

    CHIP = "MPU6050"

    def __init__(self, i2c, address=ADDRESS, rate_hz=50, range_g=2, dlpf_cfg=4, use_fifo=True):
        # Defaults: 50 Hz (the rate activity counts are defined at), +-2 g (16384 LSB/g: a sleeper
        # never comes near it), DLPF_CFG 4 = 21 Hz accelerometer bandwidth (4.3) as anti-alias.
        if range_g not in (2, 4, 8, 16) or not 0 < dlpf_cfg < 7:
            raise ValueError("MPU6050: range_g is 2, 4, 8 or 16; dlpf_cfg 1..6")
        if 1000 % rate_hz or not 4 <= rate_hz <= 1000:
            raise ValueError("MPU6050: rate_hz must divide 1000 (DLPF on: 1 kHz base rate, 4.2)")
        self.i2c = i2c
        self.address = address
        self.rate_hz = rate_hz
        self.lsb_per_g = 16384 // (range_g // 2)
        self.use_fifo = use_fifo
        self._div = 1000 // rate_hz - 1
        self._dlpf = dlpf_cfg
        self._afs = (2, 4, 8, 16).index(range_g) << 3
        self._b1 = bytearray(1)
        self._b2 = bytearray(2)
        self._b6 = bytearray(6)
        self._raw = bytearray(_CHUNK * 6)
        mv = memoryview(self._raw)
        self._views = [mv[: k * 6] for k in range(_CHUNK + 1)]
        self.ready = False
        self.overflowed = False
        self.overflows = 0

    def init(self, sleep_ms=None):
        """Reset, check WHO_AM_I, wake, set rate, range, filter and FIFO. Raises ChipError."""
        self.ready = False
        self._write(_PWR_MGMT_1, _DEVICE_RESET)
        for _ in range(_RESET_POLLS):  # DEVICE_RESET clears itself (4.28); ~100 ms on the chip
            if sleep_ms:
                sleep_ms(2)
            if not self._read(_PWR_MGMT_1) & _DEVICE_RESET:
                break
        else:
            raise ChipError("MPU6050", EIO, "MPU-6050 at 0x%02x stays in reset" % self.address)
        who = self._read(_WHO_AM_I)
        if who != WHO_AM_I:
            raise ChipError(
                "MPU6050",
                EIO,
                "device at 0x%02x answers WHO_AM_I 0x%02x, not an MPU-6050 (0x68)"
                % (self.address, who),
            )
        self._write(_PWR_MGMT_1, _CLK_PLL_XGYRO)  # SLEEP=0: wake up
        self._write(_SMPLRT_DIV, self._div)
        self._write(_CONFIG, self._dlpf)
        self._write(_GYRO_CONFIG, 0)
        self._write(_ACCEL_CONFIG, self._afs)
        self._write(_INT_ENABLE, 0)
        if self.use_fifo:
            self._write(_FIFO_EN, _FIFO_ACCEL)
            self.reset_fifo()
        self.ready = True

    def reset_fifo(self):
        self._write(_USER_CTRL, _USER_FIFO_RESET)
        self._write(_USER_CTRL, _USER_FIFO_EN if self.use_fifo else 0)

    def read_accel(self, xyz):
        """The newest sample into xyz[0..2] (raw counts; / lsb_per_g for g). 4.17: big-endian."""
        try:
            self.i2c.readfrom_mem_into(self.address, _ACCEL_XOUT_H, self._b6)
        except OSError as e:
            self._fail(e)
        b = self._b6
        xyz[0] = _s16(b[0], b[1])
        xyz[1] = _s16(b[2], b[3])
        xyz[2] = _s16(b[4], b[5])

    def read_fifo(self, ax, ay, az):
        """Move up to len(ax) waiting samples into ax/ay/az (raw counts); return how many.

        After an overflow the FIFO is reset and `overflowed` is True (samples were lost)."""
        self.overflowed = False
        if self._read(_INT_STATUS) & _FIFO_OFLOW:
            self.overflowed = True
            self.overflows += 1
            self.reset_fifo()
            return 0
        try:
            self.i2c.readfrom_mem_into(self.address, _FIFO_COUNT_H, self._b2)
        except OSError as e:
            self._fail(e)
        waiting = ((self._b2[0] << 8) | self._b2[1]) // 6
        room = len(ax)
        n = 0
        while waiting > 0 and n < room:
            k = min(waiting, room - n, _CHUNK)
            try:
                self.i2c.readfrom_mem_into(self.address, _FIFO_R_W, self._views[k])
            except OSError as e:
                self._fail(e)
            b = self._raw
            for i in range(k):
                j = 6 * i
                ax[n] = _s16(b[j], b[j + 1])
                ay[n] = _s16(b[j + 2], b[j + 3])
                az[n] = _s16(b[j + 4], b[j + 5])
                n += 1
            waiting -= k
        return n


def _s16(hi, lo):
    v = (hi << 8) | lo
    return v - 0x10000 if v & 0x8000 else v
