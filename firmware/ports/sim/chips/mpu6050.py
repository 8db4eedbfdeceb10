"""A register-accurate model of the MPU-6050 motion sensor (accelerometer), driven by virtual time.

    chip = MPU6050(scenario)
    chip.write(0x6B, b"\\x00"); chip.advance(now_us); chip.read_into(0x3B, buf6)

Follows InvenSense "MPU-6000/MPU-6050 Register Map and Descriptions" (RM-MPU-6000A-00 rev 4.2):
- power-on state: every register 0x00 except PWR_MGMT_1 (0x6B) = 0x40 (SLEEP) and WHO_AM_I (0x75) =
  0x68 (section 3); DEVICE_RESET (0x6B bit 7) restores it and clears itself;
- sample rate = gyroscope output rate / (1 + SMPLRT_DIV) (0x19, section 4.2), the gyroscope output
  rate being 8 kHz with the DLPF off (DLPF_CFG 0 or 7 in CONFIG 0x1A) and 1 kHz with it on (4.3);
- accelerometer full scale from AFS_SEL (ACCEL_CONFIG 0x1C bits 4:3): 16384/8192/4096/2048 LSB/g
  (4.5), measurements as big-endian two's complement at 0x3B..0x40 (4.17), temperature at 0x41
  (T = raw/340 + 36.53 degC, 4.18);
- a 1024-byte FIFO (USER_CTRL 0x6A: FIFO_EN bit 6, FIFO_RESET bit 2; FIFO_EN 0x23: ACCEL bit 3),
  FIFO_COUNT at 0x72/0x73 (big-endian), FIFO_R_W at 0x74 (no auto-increment); when it overflows the
  oldest bytes are lost and FIFO_OFLOW_INT (INT_STATUS 0x3A bit 4) is set: 1024 is not a multiple
  of a 6-byte sample, so after an overflow the stream is misaligned and the FIFO must be reset;
- INT_STATUS clears when read; an empty FIFO reads as the last byte read.
"""

from array import array

import kernels

WHO_AM_I = 0x68
ADDRESS = 0x68

_SMPLRT_DIV = 0x19
_CONFIG = 0x1A
_ACCEL_CONFIG = 0x1C
_FIFO_EN = 0x23
_INT_STATUS = 0x3A
_ACCEL_XOUT_H = 0x3B
_TEMP_OUT_H = 0x41
_USER_CTRL = 0x6A
_PWR_MGMT_1 = 0x6B
_FIFO_COUNT_H = 0x72
_FIFO_COUNT_L = 0x73
_FIFO_R_W = 0x74
_WHO_AM_I = 0x75

_FIFO_OFLOW = 0x10
_DATA_RDY = 0x01
FIFO_BYTES = 1024


class MPU6050:
    name = "mpu6050"
    address = ADDRESS

    def __init__(self, scenario, temp_c=27.0):
        self.scenario = scenario
        self.temp_c = temp_c
        # Samples are made in blocks (scenario.accel_block, micro-g) and go into the registers
        # and the FIFO through kernels.accel_fifo.
        self._block = getattr(scenario, "accel_block", None)
        drops = getattr(scenario, "drops", None)
        # a chip the scenario never drops: the bus need not ask present()
        self.always_present = scenario is None or (drops is not None and not drops(self.name))
        self._xyz = array("i", [0] * (3 * (FIFO_BYTES // 6 + 1)))
        self._st = array("i", [0] * kernels.F_SIZE)
        self.power_on_reset(0)

    def power_on_reset(self, now_us):
        self.regs = bytearray(128)
        self.regs[_PWR_MGMT_1] = 0x40
        self.regs[_WHO_AM_I] = WHO_AM_I
        self.fifo = bytearray(FIFO_BYTES)
        self.head = 0  # index of the oldest byte
        self.count = 0
        self.last_fifo_byte = 0
        self.now_us = now_us
        self.next_us = -1
        self.present_before = True
        self._refresh()
        t = int((self.temp_c - 36.53) * 340)  # 4.18: T = raw / 340 + 36.53 degC
        self.regs[_TEMP_OUT_H] = (t >> 8) & 0xFF
        self.regs[_TEMP_OUT_H + 1] = t & 0xFF

    def present(self, now_us):
        if self.always_present:
            return True
        ok = self.scenario.present(self.name, now_us)
        if ok and not self.present_before:
            self.power_on_reset(now_us)
        self.present_before = ok
        return ok

    def awake(self):
        return not (self.regs[_PWR_MGMT_1] & 0x40)

    def period_us(self):
        dlpf = self.regs[_CONFIG] & 7
        base_hz = 8000 if dlpf in (0, 7) else 1000
        return 1000000 * (1 + self.regs[_SMPLRT_DIV]) // base_hz

    def lsb_per_g(self):
        return 16384 >> ((self.regs[_ACCEL_CONFIG] >> 3) & 3)

    def _restart(self):
        self.next_us = self.now_us + self.period_us() if self.awake() else -1

    def _refresh(self):
        """What advance() needs from the registers, worked out once per register write."""
        self._period_us = self.period_us()
        self._lsb_per_g = self.lsb_per_g()
        self._fifo_on = bool(self.fifo_on())

    def fifo_on(self):
        return (self.regs[_USER_CTRL] & 0x40) and (self.regs[_FIFO_EN] & 0x08)

    def advance(self, now_us):
        """Make every sample that is due by now_us (in one block)."""
        self.now_us = now_us
        if self.next_us < 0 or self.next_us > now_us:
            return
        period = self._period_us
        due = (now_us - self.next_us) // period + 1
        on = self._fifo_on
        keep = FIFO_BYTES // 6 + 1 if on else 1
        if due > keep:
            # Only the newest samples can still be seen: skip straight to them.
            if on:
                self.regs[_INT_STATUS] |= _FIFO_OFLOW
                self.head = (self.head + self.count) % FIFO_BYTES
                self.count = 0
            self.next_us += (due - keep) * period
            due = keep
        xyz = self._xyz
        if self._block is not None:
            self._block(self.next_us, period, due, xyz)
        else:  # a scenario with only accel(t_us) (g), or none
            for k in range(due):
                t = self.next_us + k * period
                g = self.scenario.accel(t) if self.scenario else (0.0, 0.0, 1.0)
                for a in range(3):
                    xyz[3 * k + a] = int(g[a] * 1000000)
        st = self._st
        st[kernels.F_HEAD] = self.head
        st[kernels.F_COUNT] = self.count
        st[kernels.F_ON] = 1 if on else 0
        if kernels.accel_fifo(xyz, due, self._lsb_per_g, self.fifo, st, self.regs):
            self.regs[_INT_STATUS] |= _FIFO_OFLOW
        self.head = st[kernels.F_HEAD]
        self.count = st[kernels.F_COUNT]
        self.regs[_INT_STATUS] |= _DATA_RDY
        self.next_us += due * period

    def _fifo_push(self, b):
        if self.count >= FIFO_BYTES:
            self.head = (self.head + 1) % FIFO_BYTES  # the oldest byte is lost
            self.count -= 1
            self.regs[_INT_STATUS] |= _FIFO_OFLOW
        self.fifo[(self.head + self.count) % FIFO_BYTES] = b
        self.count += 1

    def read_into(self, reg, buf):
        n = len(buf)
        if reg == _FIFO_COUNT_H and n == 2:
            buf[0] = self.count >> 8
            buf[1] = self.count & 0xFF
            return
        if reg == _FIFO_R_W and self.count >= n:  # the common case, in one go
            self.head = kernels.fifo_bytes(self.fifo, self.head, buf, n)
            self.count -= n
            self.last_fifo_byte = buf[n - 1]
            return
        for i in range(n):
            buf[i] = self._read_byte(reg)
            if reg != _FIFO_R_W:
                reg = (reg + 1) & 0x7F

    def _read_byte(self, reg):
        if reg == _FIFO_R_W:
            if self.count:
                self.last_fifo_byte = self.fifo[self.head]
                self.head = (self.head + 1) % FIFO_BYTES
                self.count -= 1
            return self.last_fifo_byte
        if reg == _FIFO_COUNT_H:
            return self.count >> 8
        if reg == _FIFO_COUNT_L:
            return self.count & 0xFF
        if reg == _INT_STATUS:
            v = self.regs[reg]
            self.regs[reg] = 0
            return v
        return self.regs[reg]

    def write(self, reg, data):
        for b in data:
            self._write_byte(reg, b)
            reg = (reg + 1) & 0x7F
        self._refresh()

    def _write_byte(self, reg, b):
        r = self.regs
        if reg == _PWR_MGMT_1:
            if b & 0x80:  # DEVICE_RESET
                self.power_on_reset(self.now_us)
                return
            r[reg] = b
            self._restart()
        elif reg == _USER_CTRL:
            if b & 0x04:  # FIFO_RESET clears itself
                self.head = self.count = 0
            r[reg] = b & ~0x07
        elif reg in (_SMPLRT_DIV, _CONFIG):
            r[reg] = b
            self._restart()
        elif reg == _FIFO_R_W:
            self._fifo_push(b)
        elif reg in (_WHO_AM_I, _INT_STATUS, _FIFO_COUNT_H, _FIFO_COUNT_L) or (
            _ACCEL_XOUT_H <= reg < _ACCEL_XOUT_H + 14
        ):
            pass  # read-only
        else:
            r[reg] = b
