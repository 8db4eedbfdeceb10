"""A register-accurate model of the MAX30102 pulse-oximetry sensor, driven by virtual time.

    chip = MAX30102(scenario)   # the simulated I2C bus calls advance(now_us) before each access
    chip.write(0x09, b"\\x03"); chip.advance(now_us); chip.read_into(0x04, buf3)

Follows the Maxim MAX30102 datasheet (19-7740 Rev 1, "Register Maps and Descriptions", Table 1):
- a 32-sample FIFO with 5-bit write/read pointers and an overflow counter (FIFO_WR_PTR 0x04,
  OVF_COUNTER 0x05, FIFO_RD_PTR 0x06); without FIFO_ROLLOVER_EN a full FIFO loses the new samples
  and counts them (saturating at 0x1F); the read pointer advances after each complete sample read
  from FIFO_DATA (0x07), whose address does not auto-increment;
- samples of 3 bytes per LED channel, 18 bits left-justified (the MSB is always bit 17, so a pulse
  width with less resolution leaves the low bits zero: 69 us -> 15 bits ... 411 us -> 18 bits);
- MODE_CONFIG 0x09 (SHDN, RESET, MODE: 2 = red only, 3 = red + IR, 7 = multi-LED slots 0x11/0x12),
  SPO2_CONFIG 0x0A (ADC range 2048..16384 nA, sample rate 50..3200 sps, pulse width), FIFO_CONFIG
  0x08 (sample averaging, rollover, almost-full level), LED pulse amplitudes 0x0C/0x0D (0.2 mA per
  step), interrupt status 0x00/0x01 (cleared when read), die temperature 0x1F-0x21, REV_ID 0xFE,
  PART_ID 0xFF = 0x15. The photocurrent comes from the scenario in nA per mA of LED drive; the ADC
  clips at full scale (and flags ALC_OVF), like a photodiode flooded with ambient light.
"""

from array import array

import kernels

PART_ID = 0x15
REV_ID = 0x03
ADDRESS = 0x57

_INT_STATUS_1 = 0x00
_INT_STATUS_2 = 0x01
_FIFO_WR_PTR = 0x04
_OVF_COUNTER = 0x05
_FIFO_RD_PTR = 0x06
_FIFO_DATA = 0x07
_FIFO_CONFIG = 0x08
_MODE_CONFIG = 0x09
_SPO2_CONFIG = 0x0A
_LED1_PA = 0x0C
_LED2_PA = 0x0D
_SLOT_12 = 0x11
_SLOT_34 = 0x12
_TINT = 0x1F
_TFRAC = 0x20
_TEMP_CONFIG = 0x21
_REV_ID = 0xFE
_PART_ID = 0xFF

_A_FULL = 0x80
_PPG_RDY = 0x40
_ALC_OVF = 0x20
_PWR_RDY = 0x01
_DIE_TEMP_RDY = 0x02

SAMPLE_RATES_SPS = (50, 100, 200, 400, 800, 1000, 1600, 3200)
FULL_SCALE = (1 << 18) - 1
DEPTH = 32


class MAX30102:
    name = "max30102"
    address = ADDRESS

    def __init__(self, scenario, die_temp_c=31.25):
        self.scenario = scenario
        self.die_temp_c = die_temp_c
        self.samples_made = 0  # every sample the ADC produced (kept or lost): for tests
        # Samples are made in blocks (scenario.ppg_block, q12) and converted by kernels.adc_into.
        self._block = getattr(scenario, "ppg_block", None)
        drops = getattr(scenario, "drops", None)
        # a chip the scenario never drops: the bus need not ask present()
        self.always_present = scenario is None or (drops is not None and not drops(self.name))
        self._ir_q12 = array("i", [0] * DEPTH)
        self._red_q12 = array("i", [0] * DEPTH)
        self._cfg = array("i", [0] * kernels.C_SIZE)
        self.fifo = array("i", [0] * (DEPTH * kernels.FIFO_SLOT))  # 4 channels per sample
        self.power_on_reset(0)

    # -- state ------------------------------------------------------------------------------------
    def power_on_reset(self, now_us):
        self.regs = bytearray(256)
        self.regs[_REV_ID] = REV_ID
        self.regs[_PART_ID] = PART_ID
        self.regs[_INT_STATUS_1] = _PWR_RDY
        for i in range(len(self.fifo)):
            self.fifo[i] = 0
        self.wr = 0
        self.rd = 0
        self.ovf = 0
        self.count = 0
        self.byte_pos = 0
        self.now_us = now_us
        self.next_us = -1  # next sample time; -1: not sampling
        self.present_before = True
        self._configure()

    def present(self, now_us):
        if self.always_present:
            return True
        ok = self.scenario.present(self.name, now_us)
        if ok and not self.present_before:
            self.power_on_reset(now_us)  # it comes back power-cycled: configuration lost
        self.present_before = ok
        return ok

    def channels(self):
        """LED of each channel of a sample: 1 = LED1 (red), 2 = LED2 (IR)."""
        mode = self.regs[_MODE_CONFIG] & 0x07
        if mode == 2:
            return (1,)
        if mode == 3:
            return (1, 2)
        if mode == 7:
            r = self.regs
            slots = (
                r[_SLOT_12] & 7,
                (r[_SLOT_12] >> 4) & 7,
                r[_SLOT_34] & 7,
                (r[_SLOT_34] >> 4) & 7,
            )
            out = []
            for s in slots:
                if s == 0:
                    break  # slots are used in order; the first empty one ends the sequence
                out.append(s)
            return tuple(out)
        return ()

    def sampling(self):
        return not (self.regs[_MODE_CONFIG] & 0x80) and len(self.channels()) > 0

    def period_us(self):
        sr = SAMPLE_RATES_SPS[(self.regs[_SPO2_CONFIG] >> 2) & 7]
        avg = 1 << min(5, self.regs[_FIFO_CONFIG] >> 5)
        return 1000000 * avg // sr

    def _restart(self):
        self._configure()
        self.next_us = self.now_us + self.period_us() if self.sampling() else -1

    def _configure(self):
        """What a sample needs from the registers, worked out once per register write."""
        regs = self.regs
        self._chans = self.channels()
        self._period_us = self.period_us()
        rge_nA = 2048 << ((regs[_SPO2_CONFIG] >> 5) & 3)
        c = self._cfg
        c[kernels.C_CHANNELS] = len(self._chans)
        for k in range(4):
            c[kernels.C_LED + k] = self._chans[k] if k < len(self._chans) else 0
        c[kernels.C_DROP_BITS] = 3 - (regs[_SPO2_CONFIG] & 3)  # 18 bits at 411 us, 15 at 69 us
        # counts per (nA per mA) = LED current (0.2 mA steps) x full scale / ADC range; x 2^12
        # for the q12 photocurrent, so that counts = q12 * scale >> 24
        for led, at, lim in (
            (_LED1_PA, kernels.C_SCALE_RED, kernels.C_LIMIT_RED),
            (_LED2_PA, kernels.C_SCALE_IR, kernels.C_LIMIT_IR),
        ):
            scale = (regs[led] << 30) // (5 * rge_nA)
            c[at] = scale
            # at or above this photocurrent the ADC is at full scale (and the product stays
            # far below 2^63)
            c[lim] = (
                min((1 << 31) - 1, ((FULL_SCALE << 24) // scale) + 1) if scale else (1 << 31) - 1
            )

    # -- time -------------------------------------------------------------------------------------
    def advance(self, now_us):
        """Make every sample that is due by now_us (each is the average over its period, taken
        at the period's middle)."""
        self.now_us = now_us
        if self.next_us < 0 or self.next_us > now_us:
            return
        period = self._period_us
        due = (now_us - self.next_us) // period + 1
        self.samples_made += due
        if self.regs[_FIFO_CONFIG] & 0x10:  # rollover: only the newest DEPTH samples remain
            make = min(due, DEPTH)
            skip = due - make
            self.wr = (self.wr + skip) % DEPTH
        else:
            make = min(due, DEPTH - self.count)
            skip = 0
            if due > make:  # full: the new samples are lost and counted (no need to make them)
                self.ovf = min(0x1F, self.ovf + due - make)
        if make:
            self._make(self.next_us + skip * period - period // 2, period, make)
        self.next_us += due * period

    def _make(self, t_us, period, n):
        """n samples from t_us into the FIFO at the write pointer (n <= DEPTH)."""
        ir, red = self._ir_q12, self._red_q12
        if self._block is not None:
            self._block(t_us, period, n, ir, red)
        else:  # a scenario with only ppg(t_us) (nA/mA), or none
            sc = self.scenario
            for k in range(n):
                r, i = sc.ppg(t_us + k * period) if sc else (0.0, 0.0)
                ir[k] = max(0, min(1 << 30, int(i * 4096 + 0.5)))
                red[k] = max(0, min(1 << 30, int(r * 4096 + 0.5)))
        clipped = kernels.adc_into(self.fifo, ir, red, self._cfg, self.wr, n)
        self.wr = (self.wr + n) % DEPTH
        self.count += n
        if self.count > DEPTH:  # rollover: the oldest samples were overwritten
            self.count = DEPTH
            self.rd = self.wr
        regs = self.regs
        status = regs[_INT_STATUS_1] | _PPG_RDY
        if clipped:
            status |= _ALC_OVF
        if DEPTH - self.count <= (regs[_FIFO_CONFIG] & 0x0F):
            status |= _A_FULL
        regs[_INT_STATUS_1] = status

    # -- bus --------------------------------------------------------------------------------------
    def read_into(self, reg, buf):
        """An I2C burst read starting at reg: the address auto-increments, except at FIFO_DATA."""
        n = len(buf)
        if reg == _FIFO_WR_PTR and n == 3:  # the pointers, as the FIFO read procedure reads them
            buf[0] = self.wr
            buf[1] = self.ovf
            buf[2] = self.rd
            return
        i = 0
        while i < n:
            if reg == _FIFO_DATA:
                self._fifo_into(buf, i)
                return
            buf[i] = self._read_byte(reg)
            reg = (reg + 1) & 0xFF
            i += 1

    def _fifo_into(self, buf, i):
        # Whole samples at a time while they fit (the same bytes _fifo_byte would give, faster).
        n = len(buf)
        n_ch = len(self._chans)
        if self.byte_pos == 0 and n_ch:
            k = min(self.count, (n - i) // (3 * n_ch))
            if k:
                kernels.fifo_out(self.fifo, buf, i, self.rd, k, n_ch)
                i += 3 * n_ch * k
                self.rd = (self.rd + k) % DEPTH
                self.count -= k
                self.ovf = 0  # popping a sample resets the overflow counter
        while i < n:
            buf[i] = self._fifo_byte()
            i += 1

    def _read_byte(self, reg):
        regs = self.regs
        if reg == _FIFO_WR_PTR:
            return self.wr
        if reg == _OVF_COUNTER:
            return self.ovf
        if reg == _FIFO_RD_PTR:
            return self.rd
        if reg == _FIFO_DATA:
            return self._fifo_byte()
        if reg == _INT_STATUS_1 or reg == _INT_STATUS_2:
            v = regs[reg]
            regs[reg] = 0  # interrupt flags clear when read
            return v
        return regs[reg]

    def _fifo_byte(self):
        n_ch = len(self._chans)
        if self.count == 0 or n_ch == 0:
            return 0
        ch, k = divmod(self.byte_pos, 3)
        v = self.fifo[self.rd * kernels.FIFO_SLOT + ch]
        b = (v >> (16 - 8 * k)) & 0xFF
        self.byte_pos += 1
        if self.byte_pos >= 3 * n_ch:
            self.byte_pos = 0
            self.rd = (self.rd + 1) % DEPTH
            self.count -= 1
            self.ovf = 0  # popping a sample resets the overflow counter
        return b

    def write(self, reg, data):
        for b in data:
            self._write_byte(reg, b)
            reg = (reg + 1) & 0xFF

    def _write_byte(self, reg, b):
        regs = self.regs
        if reg == _MODE_CONFIG:
            if b & 0x40:  # RESET: every register to its power-on state; the bit clears itself
                self.power_on_reset(self.now_us)
                return
            regs[reg] = b & 0x87
            self._restart()
        elif reg == _FIFO_WR_PTR:
            self.wr = b & 0x1F
            self._recount()
        elif reg == _FIFO_RD_PTR:
            self.rd = b & 0x1F
            self._recount()
        elif reg == _OVF_COUNTER:
            self.ovf = b & 0x1F
        elif reg in (_SPO2_CONFIG, _FIFO_CONFIG):
            regs[reg] = b & (0x7F if reg == _SPO2_CONFIG else 0xFF)
            self._restart()
        elif reg == _TEMP_CONFIG:
            if b & 1:  # one conversion, then TEMP_EN clears and DIE_TEMP_RDY is flagged
                t16 = int(self.die_temp_c * 16)
                regs[_TINT] = (t16 >> 4) & 0xFF
                regs[_TFRAC] = t16 & 0x0F
                regs[_INT_STATUS_2] |= _DIE_TEMP_RDY
        elif reg in (_INT_STATUS_1, _INT_STATUS_2, _FIFO_DATA, _REV_ID, _PART_ID, _TINT, _TFRAC):
            pass  # read-only
        else:
            regs[reg] = b
            if reg in (_LED1_PA, _LED2_PA, _SLOT_12, _SLOT_34):
                self._configure()

    def _recount(self):
        # Pointers written by the host: the chip only knows their difference (equal means empty).
        self.count = (self.wr - self.rd) % DEPTH
        self.byte_pos = 0
