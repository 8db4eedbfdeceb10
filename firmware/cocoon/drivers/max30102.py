"""MAX30102 pulse-oximetry sensor: reset, identify, configure, and read the sample FIFO.

    ppg = MAX30102(i2c); ppg.init()            # ChipError if it is missing or not a MAX30102
    n = ppg.read(red, ir)                       # array('i') of >= 32 each; ppg.lost: samples lost

Register map and behaviour: Maxim MAX30102 datasheet 19-7740 Rev 1, "Register Maps and
Descriptions" (Table 1) and "FIFO" (pointers, overflow counter, the read procedure). The FIFO holds
32 samples; with rollover off, a full FIFO drops new samples and counts them in OVF_COUNTER, so
call read() at least every 32 samples (320 ms at 100 samples/s) to lose nothing. Buffers are
allocated once; read() does not allocate. A bus error marks the driver not ready and raises
ChipError; init() again recovers.
"""

from micropython import const

from cocoon.drivers.chip import EIO, ChipError, RegisterChip

ADDRESS = const(0x57)
PART_ID = const(0x15)

_INT_STATUS_1 = const(0x00)
_INT_ENABLE_1 = const(0x02)
_INT_ENABLE_2 = const(0x03)
_FIFO_WR_PTR = const(0x04)  # 0x04 WR_PTR, 0x05 OVF_COUNTER, 0x06 RD_PTR: read as one burst
_FIFO_DATA = const(0x07)
_FIFO_CONFIG = const(0x08)
_MODE_CONFIG = const(0x09)
_SPO2_CONFIG = const(0x0A)
_LED1_PA = const(0x0C)  # red
_LED2_PA = const(0x0D)  # IR
_TEMP_INT = const(0x1F)
_TEMP_CONFIG = const(0x21)
_PART_ID = const(0xFF)

_MODE_RESET = const(0x40)
_MODE_SPO2 = const(0x03)  # red + IR, each sample 6 bytes: red then IR
_DEPTH = const(32)
_BYTES_PER_SAMPLE = const(6)
_SAMPLE_MASK = const(0x3FFFF)  # 18 bits, left-justified (bit 17 is always the MSB)
_RESET_POLLS = const(50)

# SPO2_CONFIG fields (datasheet Tables 11-13): sample rate code, pulse width code (-> ADC bits).
_RATES_SPS = (50, 100, 200, 400, 800, 1000, 1600, 3200)
_PULSE_WIDTHS_US = (69, 118, 215, 411)  # 15, 16, 17, 18 bits
_ADC_RANGES_NA = (2048, 4096, 8192, 16384)
_LED_STEP_UA = const(200)  # LEDx_PA: 0.2 mA per step, 0xFF = 51 mA


class MAX30102(RegisterChip):
    """One MAX30102 on an I2C bus (machine.I2C semantics)."""

    CHIP = "MAX30102"

    def __init__(
        self,
        i2c,
        address=ADDRESS,
        rate_sps=100,
        average=4,
        pulse_width_us=411,
        adc_range_nA=4096,
        ir_led_uA=7200,
        red_led_uA=7200,
    ):
        # Defaults: 400 samples/s averaged by 4 on the chip (lower noise) -> 100 samples/s in the
        # FIFO; 411 us pulses for 18-bit samples; 4096 nA range keeps a fingertip near mid-scale.
        if average not in (1, 2, 4, 8, 16, 32) or rate_sps * average not in _RATES_SPS:
            raise ValueError("MAX30102: rate_sps x average must be one of %s" % (_RATES_SPS,))
        if pulse_width_us not in _PULSE_WIDTHS_US or adc_range_nA not in _ADC_RANGES_NA:
            raise ValueError("MAX30102: unsupported pulse width or ADC range")
        self.i2c = i2c
        self.address = address
        self.rate_sps = rate_sps
        self.period_us = 1000000 // rate_sps
        self._fifo_config = (_log2(average) << 5) | 0x0F  # no rollover; A_FULL at 15 free slots
        self._spo2_config = (
            (_ADC_RANGES_NA.index(adc_range_nA) << 5)
            | (_RATES_SPS.index(rate_sps * average) << 2)
            | _PULSE_WIDTHS_US.index(pulse_width_us)
        )
        self._led_red = min(255, red_led_uA // _LED_STEP_UA)
        self._led_ir = min(255, ir_led_uA // _LED_STEP_UA)
        self._b1 = bytearray(1)
        self._ptrs = bytearray(3)
        self._raw = bytearray(_DEPTH * _BYTES_PER_SAMPLE)
        mv = memoryview(self._raw)
        self._views = [mv[: k * _BYTES_PER_SAMPLE] for k in range(_DEPTH + 1)]
        self.ready = False
        self.lost = 0  # samples lost to overflow before the last read (31 means 31 or more)
        self.lost_total = 0
        self.reads = 0

    # -- set-up -----------------------------------------------------------------------------------
    def init(self, sleep_ms=None):
        """Reset, check the part id, configure, empty the FIFO. Raises ChipError."""
        self.ready = False
        self._write(_MODE_CONFIG, _MODE_RESET)
        for _ in range(_RESET_POLLS):  # RESET clears itself when the chip is ready (Table 1, 0x09)
            if not self._read(_MODE_CONFIG) & _MODE_RESET:
                break
            if sleep_ms:
                sleep_ms(1)
        else:
            raise ChipError("MAX30102", EIO, "MAX30102 at 0x%02x stays in reset" % self.address)
        part = self._read(_PART_ID)
        if part != PART_ID:
            raise ChipError(
                "MAX30102",
                EIO,
                "device at 0x%02x has part id 0x%02x, not a MAX30102 (0x15)"
                % (self.address, part),
            )
        self._read(_INT_STATUS_1)  # clears PWR_RDY
        self._write(_INT_ENABLE_1, 0)  # polled: no interrupt pin needed
        self._write(_INT_ENABLE_2, 0)
        self._write(_FIFO_CONFIG, self._fifo_config)
        self._write(_SPO2_CONFIG, self._spo2_config)
        self._write(_LED1_PA, self._led_red)
        self._write(_LED2_PA, self._led_ir)
        self._write(_MODE_CONFIG, _MODE_SPO2)
        self.clear_fifo()
        self.lost = 0
        self.ready = True

    def clear_fifo(self):
        # Datasheet: write 0 to FIFO_WR_PTR, OVF_COUNTER and FIFO_RD_PTR to start from empty.
        p = self._ptrs
        p[0] = p[1] = p[2] = 0
        try:
            self.i2c.writeto_mem(self.address, _FIFO_WR_PTR, p)
        except OSError as e:
            self._fail(e)

    def shutdown(self):
        self._write(_MODE_CONFIG, 0x80 | _MODE_SPO2)
        self.ready = False

    # -- samples ----------------------------------------------------------------------------------
    def available(self):
        """Samples waiting in the FIFO (32 when it overflowed)."""
        self._read_pointers()
        p = self._ptrs
        return _DEPTH if p[1] else (p[0] - p[2]) & (_DEPTH - 1)

    def read(self, red, ir):
        """Move every waiting sample into red[0..n), ir[0..n) (18-bit counts); return n.

        Datasheet "FIFO": read WR_PTR, OVF_COUNTER, RD_PTR; the samples available are
        WR_PTR - RD_PTR modulo 32, or all 32 when OVF_COUNTER says samples were lost."""
        self._read_pointers()
        p = self._ptrs
        ovf = p[1]
        n = _DEPTH if ovf else (p[0] - p[2]) & (_DEPTH - 1)
        self.lost = ovf
        self.lost_total += ovf
        self.reads += 1
        if n == 0:
            return 0
        try:
            self.i2c.readfrom_mem_into(self.address, _FIFO_DATA, self._views[n])
        except OSError as e:
            self._fail(e)
        _decode(self._raw, n, red, ir)
        return n

    def temperature_c_x16(self):
        """Die temperature in 1/16 degC (one conversion; the sim answers at once, the chip in ~30
           ms
        (datasheet: TEMP_EN self-clears when done))."""
        self._write(_TEMP_CONFIG, 1)
        for _ in range(_RESET_POLLS):
            if not self._read(_TEMP_CONFIG) & 1:
                break
        whole = self._read(_TEMP_INT)
        if whole > 127:
            whole -= 256  # two's complement
        return whole * 16 + (self._read(_TEMP_INT + 1) & 0x0F)

    # -- bus --------------------------------------------------------------------------------------
    def _read_pointers(self):
        try:
            self.i2c.readfrom_mem_into(self.address, _FIFO_WR_PTR, self._ptrs)
        except OSError as e:
            self._fail(e)


def _decode(raw, n, red, ir):
    # Each sample: red then IR, 3 bytes each, MSB first; bits 23:18 are unused.
    j = 0
    for i in range(n):
        red[i] = ((raw[j] << 16) | (raw[j + 1] << 8) | raw[j + 2]) & _SAMPLE_MASK
        ir[i] = ((raw[j + 3] << 16) | (raw[j + 4] << 8) | raw[j + 5]) & _SAMPLE_MASK
        j += 6


def _log2(v):
    k = 0
    while v > 1:
        v >>= 1
        k += 1
    return k
