"""The virtual board's per-sample loops, in integers: what the simulated chips feel, sample by
sample.

    kernels.ppg_run(p, shake, ir_q12, red_q12)    # p: array('i') of the P_* parameters
    kernels.accel_run(p, shake, xyz_ug)           # (scenario.py and chips/ call these in blocks)

A virtual night makes 150 samples per virtual second (MAX30102 at 100/s, MPU-6050 at 50/s), and at
`--speed max` the simulation shares its CPU with the firmware under test, so these loops are
@micropython.viper over array('i') buffers: no float, no allocation (a float allocates on the
unix port, and every collection walks the firmware's whole heap). Python (scenario.py) decides
what changes slowly (beats, breathing rate, faults, movements) once per block of samples; the
loops here only step phases through tables and draw noise from a xorshift32 generator.

The same source runs as plain Python on CPython (tests, host tools): `ptr32` is then the array
itself, and every load is normalised to signed 32 bits (viper loads zero-extend on x86-64), so
both interpreters give the same integers bit for bit.

Units: photocurrent `_q12` is nA per mA of LED drive x 4096; acceleration `_ug` is micro-g; phases
`_q24` are turns x 2^24; tables are Q15.
"""

import math
from array import array

try:
    import micropython
except ImportError:  # CPython without the firmware's test shims: the host reads a hypnogram

    class micropython:  # type: ignore[no-redef]  # noqa: N801 - stands in for the module
        @staticmethod
        def viper(f):
            return f


try:  # Viper casts exist only inside @micropython.viper functions; elsewhere index the array.
    ptr32  # noqa: B018
except NameError:

    def ptr32(buf):
        return buf

    def ptr8(buf):
        return buf


TURN_Q24 = 1 << 24
SIN_STEPS = 1024  # sine table: index = phase_q24 >> 14
PULSE_STEPS = 256  # one beat: index = phase_q24 >> 16, linear interpolation on the low 16 bits


def _sin_table():
    return array(
        "i", [round(32767 * math.sin(2 * math.pi * i / SIN_STEPS)) for i in range(SIN_STEPS)]
    )


def _pulse_table():
    """One beat of blood volume (0..1, Q15) over PULSE_STEPS steps of its phase: a fast systolic
    rise, a slower fall and a dicrotic wave (two-Gaussian PPG models, e.g. Tang et al. 2020); one
    more entry (the first again) so that interpolation never wraps."""
    t = []
    for i in range(PULSE_STEPS):
        ph = i / PULSE_STEPS
        w = 0.055 if ph < 0.2 else 0.16
        s = math.exp(-(((ph - 0.2) / w) ** 2) / 2)
        d = 0.35 * math.exp(-(((ph - 0.48) / 0.07) ** 2) / 2)
        t.append(s + d)
    peak = max(t)
    t.append(t[0])
    return array("i", [round(32768 * v / peak) for v in t])


SIN_Q15 = _sin_table()
PULSE_Q15 = _pulse_table()

# ppg_run levels, which change rarely (array('i') of P_SIZE); the loop writes P_RNG back.
P_RESP_STEP = 0  # respiratory phase step per sample, q24
P_RNG = 1  # xorshift32 state (stored as signed 32 bits)
P_DC_IR = 2  # IR photocurrent level, q12
P_DC_RED = 3
P_BASE = 4  # baseline level (relative to DC), q20
P_BASE_AMP = 5  # respiratory baseline modulation, q20 (x cos of the respiratory phase)
P_PERF = 6  # pulse amplitude (relative to DC), q20
P_PERF_AMP = 7  # respiratory amplitude modulation, q15 (x sin of the respiratory phase)
P_NOISE_W = 8  # width of the uniform noise (relative to DC), q20
P_MOTION = 9  # movement artefact: q20 per micro-g, x 2^16
P_RED_AC = 10  # red pulse / IR pulse, q15 (the ratio of ratios R)
P_SIZE = 11

# shake_run parameters
S_N = 0
S_ENV = 1  # envelope sin(pi t / span): phase q24 (half a turn over the movement)
S_ENV_STEP = 2
S_PH1 = 3  # three sines: phase q24 and step each
S_ST1 = 4
S_PH2 = 5
S_ST2 = 6
S_PH3 = 7
S_ST3 = 8
S_AMP = 9  # peak amplitude, micro-g
S_SIZE = 10

# accel_run parameters
A_RNG = 0
A_NOISE_W = 1  # width of the uniform noise per axis, micro-g
A_SIZE = 2


def seed_state(seed, stream):
    """A non-zero xorshift32 state for (seed, stream), as signed 32 bits."""
    x = (int(seed) * 2654435761 + stream * 40503 + 0x9E3779B9) & 0xFFFFFFFF or 1
    return x - (1 << 32) if x >= 1 << 31 else x


@micropython.viper
def ppg_run(p, shake, ir, red, i: int, n: int, pos: int, pos_step: int, resp: int, use_shake: int):
    """n PPG samples into ir[i..], red[i..] (q12), from beat phase pos and respiratory phase resp
    (q24, stepped per sample), plus the movement in shake[0..n) if use_shake; p: the P_*
    levels. pos stays within the beat: the caller splits blocks at beats."""
    q = ptr32(p)
    sk = ptr32(shake)
    oi = ptr32(ir)
    orr = ptr32(red)
    pulse = ptr32(PULSE_Q15)
    sine = ptr32(SIN_Q15)
    one = 1
    S = one << 31
    M = (S - 1) | S
    resp_step = int(((q[0] & M) ^ S) - S)
    x = int(q[1] & M)
    dc_ir = int(((q[2] & M) ^ S) - S)
    dc_red = int(((q[3] & M) ^ S) - S)
    base0 = int(((q[4] & M) ^ S) - S)
    base_amp = int(((q[5] & M) ^ S) - S)
    perf0 = int(((q[6] & M) ^ S) - S)
    perf_amp = int(((q[7] & M) ^ S) - S)
    noise_w = int(((q[8] & M) ^ S) - S)
    motion = int(((q[9] & M) ^ S) - S)
    red_ac = int(((q[10] & M) ^ S) - S)
    half_w = noise_w >> 1
    turn_mask = (one << 24) - 1
    quarter = one << 22
    top = one << 30  # 262144 nA/mA: far beyond any ADC range, and within 32 bits
    end = i + n
    k = 0
    while i < end:
        # the beat: table lookup with linear interpolation
        j = pos >> 16
        a = ((pulse[j] & M) ^ S) - S
        b = ((pulse[j + 1] & M) ^ S) - S
        v = a + (((b - a) * (pos & 0xFFFF)) >> 16)
        # breathing: baseline (cos) and amplitude (sin) modulation
        s = ((sine[resp >> 14] & M) ^ S) - S
        c = ((sine[((resp + quarter) & turn_mask) >> 14] & M) ^ S) - S
        base = base0 + ((base_amp * c) >> 15)
        perf = (perf0 * (32768 + ((perf_amp * s) >> 15))) >> 15
        # noise: xorshift32, uniform over noise_w
        x ^= (x << 13) & M
        x ^= x >> 17
        x ^= (x << 5) & M
        extra = (((x >> 8) * noise_w) >> 24) - half_w
        if use_shake:
            extra += (motion * (((sk[k] & M) ^ S) - S)) >> 16
        ac = (perf * v) >> 15
        y = (dc_ir * (base - ac + extra)) >> 20
        if y < 0:
            y = 0  # no negative light
        elif y > top:
            y = top
        oi[i] = y
        y = (dc_red * (base - ((ac * red_ac) >> 15) + extra)) >> 20
        if y < 0:
            y = 0
        elif y > top:
            y = top
        orr[i] = y
        pos += pos_step
        if pos > turn_mask:
            pos = turn_mask
        resp = (resp + resp_step) & turn_mask
        i += 1
        k += 1
    q[1] = (x ^ S) - S


@micropython.viper
def shake_run(p, out):
    """A movement's acceleration (micro-g) at p[S_N] samples into out[0..]: three sines in the
    1-9 Hz band (weights 0.6, 0.3, 0.2) under a half-sine envelope. Advances the phases."""
    q = ptr32(p)
    o = ptr32(out)
    sine = ptr32(SIN_Q15)
    one = 1
    S = one << 31
    M = (S - 1) | S
    turn_mask = (one << 24) - 1
    n = int(((q[0] & M) ^ S) - S)
    env = int(((q[1] & M) ^ S) - S)
    env_step = int(((q[2] & M) ^ S) - S)
    p1 = int(((q[3] & M) ^ S) - S)
    s1 = int(((q[4] & M) ^ S) - S)
    p2 = int(((q[5] & M) ^ S) - S)
    s2 = int(((q[6] & M) ^ S) - S)
    p3 = int(((q[7] & M) ^ S) - S)
    s3 = int(((q[8] & M) ^ S) - S)
    amp = int(((q[9] & M) ^ S) - S)
    half = one << 23
    k = 0
    while k < n:
        e = 0
        if env >= 0 and env < half:
            e = ((sine[env >> 14] & M) ^ S) - S
        mix = (
            19661 * (((sine[p1 >> 14] & M) ^ S) - S)
            + 9830 * (((sine[p2 >> 14] & M) ^ S) - S)
            + 6554 * (((sine[p3 >> 14] & M) ^ S) - S)
        ) >> 15
        o[k] = (((amp * e) >> 15) * mix) >> 15
        env += env_step
        p1 = (p1 + s1) & turn_mask
        p2 = (p2 + s2) & turn_mask
        p3 = (p3 + s3) & turn_mask
        k += 1
    q[1] = env
    q[3] = p1
    q[5] = p2
    q[7] = p3


@micropython.viper
def accel_run(p, shake, out, i0: int, n: int, gx: int, gy: int, gz: int, use_shake: int):
    """n accelerometer samples (x, y, z micro-g, interleaved) into out[3 * i0..]: gravity, the
    movement (shake[0..n), if use_shake) and uniform sensor noise on each axis (p: A_*)."""
    q = ptr32(p)
    sk = ptr32(shake)
    o = ptr32(out)
    one = 1
    S = one << 31
    M = (S - 1) | S
    x = int(q[0] & M)
    w = int(((q[1] & M) ^ S) - S)
    half_w = w >> 1
    j = 3 * i0
    k = 0
    while k < n:
        s = 0
        if use_shake:
            s = ((sk[k] & M) ^ S) - S
        x ^= (x << 13) & M
        x ^= x >> 17
        x ^= (x << 5) & M
        o[j] = gx + (s >> 1) + (((x >> 8) * w) >> 24) - half_w
        x ^= (x << 13) & M
        x ^= x >> 17
        x ^= (x << 5) & M
        o[j + 1] = gy + ((s * 13107) >> 14) + (((x >> 8) * w) >> 24) - half_w
        x ^= (x << 13) & M
        x ^= x >> 17
        x ^= (x << 5) & M
        o[j + 2] = gz + s + (((x >> 8) * w) >> 24) - half_w
        j += 3
        k += 1
    q[0] = (x ^ S) - S


# -- the chips' side: ADC and FIFO bytes ----------------------------------------------------------
# adc_into configuration (array('i') of C_SIZE), set by the MAX30102 model at each register write.
C_CHANNELS = 0  # channels per sample (0..4)
C_LED = 1  # C_LED + k: LED of channel k (1 red, else IR)
C_SCALE_RED = 5  # ADC counts per (nA/mA) x 2^12: counts = q12 * scale >> 24
C_SCALE_IR = 6
C_LIMIT_RED = 7  # q12 at or above which the ADC is at full scale (keeps the product small)
C_LIMIT_IR = 8
C_DROP_BITS = 9  # low bits a shorter LED pulse does not resolve
C_SIZE = 10
FIFO_SLOT = 4  # ints per FIFO sample (up to 4 channels)


@micropython.viper
def adc_into(fifo, ir, red, cfg, wr: int, n: int) -> int:
    """n samples (ir/red q12) through the 18-bit ADC into FIFO slots wr, wr + 1, ... (mod 32);
    returns 1 if any sample was clipped at full scale."""
    f = ptr32(fifo)
    si = ptr32(ir)
    sr = ptr32(red)
    c = ptr32(cfg)
    one = 1
    S = one << 31
    M = (S - 1) | S
    full = (one << 18) - 1
    n_ch = int(((c[0] & M) ^ S) - S)
    scale_red = int(((c[5] & M) ^ S) - S)
    scale_ir = int(((c[6] & M) ^ S) - S)
    lim_red = int(((c[7] & M) ^ S) - S)
    lim_ir = int(((c[8] & M) ^ S) - S)
    drop = int(((c[9] & M) ^ S) - S)
    clipped = 0
    k = 0
    while k < n:
        ch = 0
        while ch < n_ch:
            if (((c[1 + ch] & M) ^ S) - S) == 1:
                x = ((sr[k] & M) ^ S) - S
                lim = lim_red
                scale = scale_red
            else:
                x = ((si[k] & M) ^ S) - S
                lim = lim_ir
                scale = scale_ir
            if x >= lim:
                v = full
            elif x <= 0:
                v = 0
            else:
                v = (x * scale) >> 24
            if v >= full:
                v = full
                clipped = 1
            f[wr * 4 + ch] = (v >> drop) << drop
            ch += 1
        wr = (wr + 1) & 31
        k += 1
    return clipped


@micropython.viper
def fifo_out(fifo, buf, i: int, rd: int, k: int, n_ch: int):
    """k whole samples from FIFO slot rd on into buf[i..] as the MAX30102 sends them: 3 bytes per
    channel, most significant first."""
    f = ptr32(fifo)
    b = ptr8(buf)
    m = 0
    while m < k:
        ch = 0
        while ch < n_ch:
            v = int(f[rd * 4 + ch])
            b[i] = (v >> 16) & 0xFF
            b[i + 1] = (v >> 8) & 0xFF
            b[i + 2] = v & 0xFF
            i += 3
            ch += 1
        rd = (rd + 1) & 31
        m += 1


# accel_fifo state (array('i') of F_SIZE), kept by the MPU-6050 model.
F_HEAD = 0  # index of the oldest FIFO byte
F_COUNT = 1  # bytes in the FIFO
F_ON = 2  # 1: samples go into the FIFO
F_SIZE = 3


@micropython.viper
def accel_fifo(xyz, n: int, lsb_per_g: int, fifo, st, regs) -> int:
    """n accelerometer samples (micro-g, interleaved) to 16-bit counts (truncated, clamped), into
    the 1024-byte FIFO (oldest bytes lost when full) and, the last one, into ACCEL_XOUT_H..
    (regs[0x3B..0x40], big-endian). Returns 1 if the FIFO overflowed."""
    a = ptr32(xyz)
    f = ptr8(fifo)
    s = ptr32(st)
    r = ptr8(regs)
    one = 1
    S = one << 31
    M = (S - 1) | S
    head = int(((s[0] & M) ^ S) - S)
    count = int(((s[1] & M) ^ S) - S)
    on = int(((s[2] & M) ^ S) - S)
    oflow = 0
    j = 0
    end = 3 * n
    while j < end:
        x = ((a[j] & M) ^ S) - S
        if x < 0:
            v = 0 - (((0 - x) * lsb_per_g) // 1000000)  # int(): towards zero
        else:
            v = (x * lsb_per_g) // 1000000
        if v > 32767:
            v = 32767
        elif v < 0 - 32768:
            v = 0 - 32768
        hi = (v >> 8) & 0xFF
        lo = v & 0xFF
        reg = 0x3B + 2 * (j % 3)
        r[reg] = hi
        r[reg + 1] = lo
        if on:
            b = 0
            while b < 2:
                if count >= 1024:
                    head = (head + 1) & 1023  # the oldest byte is lost
                    count -= 1
                    oflow = 1
                if b == 0:
                    f[(head + count) & 1023] = hi
                else:
                    f[(head + count) & 1023] = lo
                count += 1
                b += 1
        j += 1
    s[0] = head
    s[1] = count
    return oflow


@micropython.viper
def fifo_bytes(fifo, head: int, buf, n: int) -> int:
    """n bytes of the MPU-6050's FIFO from head on into buf[0..n); returns the new head."""
    f = ptr8(fifo)
    b = ptr8(buf)
    k = 0
    while k < n:
        b[k] = f[head]
        head = (head + 1) & 1023
        k += 1
    return head
