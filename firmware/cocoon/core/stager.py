"""Sleep-stage classifier: a fixed-point logistic model and a forward filter over transitions.

Every 30-s epoch the epoch features (core/epoch.py: Walch 2019's activity-count and heart-rate
features, computed on the device with a delay) go through a multinomial logistic model with integer
weights, and a hidden-Markov forward filter (a prior on stage transitions) carries the past epochs.
Wake is decided by a second, binary logistic model whose log-odds are compared with a threshold
chosen on training data so that 93% of sleep epochs score as sleep (Walch 2019's operating point);
otherwise the stage is the filter's most likely sleep stage. All arithmetic is on integers that
stay far inside 31 bits (MicroPython small ints on the ESP32), and update() allocates nothing.

    st = Stager(stage_model)                         # the generated cocoon.core.stage_model
    stage = st.update(count_q8, hr_q12, epoch_n)     # WAKE, LIGHT, DEEP or REM

Q formats: Q10 = value * 2^10 (log domain: natural log units, "nats"), Q15 probabilities.
"""

from array import array

from micropython import const

WAKE = const(0)
LIGHT = const(1)  # N1 + N2
DEEP = const(2)  # N3 + N4
REM = const(3)
UNKNOWN = const(-1)
NAMES = ("wake", "light", "deep", "rem")
N_STAGES = const(4)
N_FEATURES = const(6)
FEATURE_NAMES = ("log1p_count", "log_hr", "count", "hr", "hours", "cosine")

MODEL_FORMAT = const(1)

_LN2_Q14 = const(11357)  # ln(2) * 2^14
# 0.02 * 2^12: log(hr_feature + 0.02) stays finite for a heart rate that does not vary at all
_HR_FLOOR_Q12 = const(82)
_Z_MAX_Q10 = const(8192)  # standardised features clipped to +-8 sd
_D_MAX_Q10 = const(65536)  # feature minus mean clipped to +-64 before scaling
_LOG_FLOOR_Q10 = const(-30720)  # forward-filter log probabilities kept above -30 nats
_SP_LIMIT_Q10 = const(8192)  # ln(1 + e^-d) < 2^-11 beyond d = 8 nats: below Q10's step
_EXP_LIMIT_Q10 = const(16384)
_EPOCH_MAX = const(2880)  # 24 h of 30-s epochs: time features saturate there
# Limits on the model's integers: products of two of them stay below 2^29.
_PARAM_MAX = const(8192)
_BIAS_MAX = const(32768)
_GAMMA_MAX = const(4096)

# Tables computed once on the host (tests/host/test_model.py checks them against math): the
# ESP32 computes floats in single precision, so tables built at import would differ by port.
# fmt: off
# ln(1 + exp(-d)) in Q10 for d = i/16 nat, i = 0..128
_SOFTPLUS_Q10 = (
    710, 678, 648, 618, 590, 562, 536, 510, 485, 462, 439, 417, 396, 376, 357, 338, 321, 304, 288,
    273, 258, 244, 231, 218, 206, 195, 184, 174, 164, 155, 146, 138, 130, 123, 116, 109, 103, 97,
    91, 86, 81, 76, 72, 67, 63, 60, 56, 53, 50, 47, 44, 41, 39, 37, 34, 32, 30, 29, 27, 25, 24,
    22, 21, 20, 19, 17, 16, 15, 15, 14, 13, 12, 11, 11, 10, 9, 9, 8, 8, 7, 7, 6, 6, 6, 5, 5, 5, 4,
    4, 4, 4, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 0, 0, 0, 0, 0, 0, 0,
)
# exp(-d) in Q15 for d = i/8 nat, i = 0..128
_EXP_Q15 = (
    32768, 28918, 25520, 22521, 19875, 17539, 15479, 13660, 12055, 10638, 9388, 8285, 7312, 6452,
    5694, 5025, 4435, 3914, 3454, 3048, 2690, 2374, 2095, 1849, 1631, 1440, 1271, 1121, 990, 873,
    771, 680, 600, 530, 467, 412, 364, 321, 283, 250, 221, 195, 172, 152, 134, 118, 104, 92, 81,
    72, 63, 56, 49, 43, 38, 34, 30, 26, 23, 21, 18, 16, 14, 12, 11, 10, 9, 8, 7, 6, 5, 5, 4, 4, 3,
    3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
)
# log2(1 + i/32) in Q16, i = 0..32
_LOG2_Q16 = (
    0, 2909, 5732, 8473, 11136, 13727, 16248, 18704, 21098, 23433, 25711, 27936, 30109, 32234,
    34312, 36346, 38336, 40286, 42196, 44068, 45904, 47705, 49472, 51207, 52911, 54584, 56229,
    57845, 59434, 60997, 62534, 64047, 65536,
)
# -cos(2 pi (h - 5) / 24) in Q14 for h = i/4 hours, i = 0..96 (Walch's cosine proxy)
_COS_Q14 = (
    -4240, -5266, -6270, -7246, -8192, -9102, -9974, -10803, -11585, -12318, -12998, -13623,
    -14189, -14694, -15137, -15515, -15826, -16069, -16244, -16349, -16384, -16349, -16244,
    -16069, -15826, -15515, -15137, -14694, -14189, -13623, -12998, -12318, -11585, -10803, -9974,
    -9102, -8192, -7246, -6270, -5266, -4240, -3196, -2139, -1072, 0, 1072, 2139, 3196, 4240,
    5266, 6270, 7246, 8192, 9102, 9974, 10803, 11585, 12318, 12998, 13623, 14189, 14694, 15137,
    15515, 15826, 16069, 16244, 16349, 16384, 16349, 16244, 16069, 15826, 15515, 15137, 14694,
    14189, 13623, 12998, 12318, 11585, 10803, 9974, 9102, 8192, 7246, 6270, 5266, 4240, 3196,
    2139, 1072, 0, -1072, -2139, -3196, -4240,
)
# fmt: on


def ln_q10(x, q):
    """ln(x / 2^q) in Q10 for an integer 0 < x < 2^30 (table log2 with linear interpolation)."""
    n = 0
    v = x
    while v >= 2:
        v >>= 1
        n += 1
    # Mantissa in [2^16, 2^17): its fraction indexes a 32-step table of log2(1 + f).
    if n <= 16:
        m = x << (16 - n)
    else:
        m = x >> (n - 16)
    f = m - 65536
    i = f >> 11
    lo = _LOG2_Q16[i]
    log2_q16 = ((n - q) << 16) + lo + (((_LOG2_Q16[i + 1] - lo) * (f & 2047)) >> 11)
    return ((log2_q16 >> 6) * _LN2_Q14) >> 14


def lse_q10(a, b):
    """ln(e^a + e^b) for a, b in Q10: the larger plus a tabulated softplus of the gap."""
    if a < b:
        a, b = b, a
    d = a - b
    if d >= _SP_LIMIT_Q10:
        return a
    i = d >> 6
    lo = _SOFTPLUS_Q10[i]
    return a + lo + (((_SOFTPLUS_Q10[i + 1] - lo) * (d & 63)) >> 6)


def exp_q15(d):
    """exp(d) in Q15 for d <= 0 in Q10 (0 below -16 nats)."""
    d = -d
    if d >= _EXP_LIMIT_Q10:
        return 0
    if d < 0:
        d = 0
    i = d >> 7
    lo = _EXP_Q15[i]
    return lo + (((_EXP_Q15[i + 1] - lo) * (d & 127)) >> 7)


def hours_q10(epoch_n):
    """Hours since lights-out in Q10 from the 30-s epoch number (Walch's time feature)."""
    if epoch_n > _EPOCH_MAX:
        epoch_n = _EPOCH_MAX
    return (epoch_n * 128) // 15  # epoch_n / 120 h * 1024


def cosine_q10(epoch_n):
    """Walch's cosine proxy -cos(2 pi (t - 5 h) / 24 h) in Q10, t since lights-out."""
    if epoch_n > _EPOCH_MAX:
        epoch_n = _EPOCH_MAX
    i = epoch_n // 30  # table step: 15 min = 30 epochs
    r = epoch_n - i * 30
    if i >= 96:
        i = 95
        r = 30
    lo = _COS_Q14[i]
    return (lo + ((_COS_Q14[i + 1] - lo) * r) // 30) >> 4


def _check(name, values, n, limit):
    if len(values) != n:
        raise ValueError("stage model: %s has %d values, expected %d" % (name, len(values), n))
    for v in values:
        if not isinstance(v, int) or v < -limit or v > limit:
            raise ValueError("stage model: %s holds %r, outside +-%d" % (name, v, limit))
    return array("i", values)


class Stager:
    """Per-epoch stage estimate. Results after update(): stage, wake_lo_q10, prob_q15, valid."""

    def __init__(self, model):
        fmt = getattr(model, "FORMAT", None)
        if fmt != MODEL_FORMAT:
            raise ValueError("stage model: format %r, firmware reads %d" % (fmt, MODEL_FORMAT))
        f = N_FEATURES
        self.model_id = getattr(model, "MODEL_ID", "?")
        self._mu = _check("MU_Q10", model.MU_Q10, f, 32768)
        self._isd = _check("ISD_Q10", model.ISD_Q10, f, _PARAM_MAX)
        self._w = _check("W_Q10", model.W_Q10, N_STAGES * f, _PARAM_MAX)
        self._b = _check("B_Q10", model.B_Q10, N_STAGES, _BIAS_MAX)
        self._wake_w = _check("WAKE_W_Q10", model.WAKE_W_Q10, f, _PARAM_MAX)
        self._wake_b = _check("WAKE_B_Q10", (model.WAKE_B_Q10,), 1, _BIAS_MAX)[0]
        self._lp = _check("LOG_PRIOR_Q10", model.LOG_PRIOR_Q10, N_STAGES, -_LOG_FLOOR_Q10)
        self._lt = _check("LOG_TRANS_Q10", model.LOG_TRANS_Q10, N_STAGES * N_STAGES, 20480)
        self._gamma = _check("GAMMA_Q10", (model.GAMMA_Q10,), 1, _GAMMA_MAX)[0]
        self._wake_th = _check("WAKE_TH_Q10", (model.WAKE_TH_Q10,), 1, _BIAS_MAX)[0]
        for v in self._isd:
            if v <= 0:
                raise ValueError("stage model: ISD_Q10 must be positive")
        for v in self._lp:
            if v > 0:
                raise ValueError("stage model: LOG_PRIOR_Q10 must be log probabilities (<= 0)")
        self.x_q10 = array("i", [0] * f)  # the features of the last epoch
        self._z = array("i", [0] * f)
        self.logit_q10 = array("i", [0] * N_STAGES)
        # Forward filter: log P(stage | epochs so far), shifted so that the largest is 0.
        self.log_q10 = array("i", [0] * N_STAGES)
        self._next = array("i", [0] * N_STAGES)
        self.prob_q15 = array("i", [0] * N_STAGES)
        self.reset()

    def reset(self):
        """A new night: the filter starts from the training prior."""
        for k in range(N_STAGES):
            self.log_q10[k] = self._lp[k]
            self.prob_q15[k] = 0
        self._normalise()
        self.stage = UNKNOWN
        self.wake_lo_q10 = 0
        self.valid = False
        self.epochs = 0

    def features(self, count_q8, hr_q12, epoch_n):
        """The model's inputs in Q10 from the epoch features (clamped to their valid range)."""
        if count_q8 < 0:
            count_q8 = 0
        elif count_q8 > 1048576:
            count_q8 = 1048576  # 4096 counts: far above any real movement
        if hr_q12 < 0:
            hr_q12 = 0
        elif hr_q12 > 262144:
            hr_q12 = 262144  # 64: hr_feature is a standard deviation of a normalised signal
        if epoch_n < 0:
            epoch_n = 0
        x = self.x_q10
        x[0] = ln_q10(count_q8 + 256, 8)
        x[1] = ln_q10(hr_q12 + _HR_FLOOR_Q12, 12)
        x[2] = count_q8 << 2
        x[3] = hr_q12 >> 2
        x[4] = hours_q10(epoch_n)
        x[5] = cosine_q10(epoch_n)
        return x

    def update(self, count_q8, hr_q12, epoch_n, valid=True):
        """One epoch. valid=False (no heart-rate reading): the filter only predicts forward."""
        self.features(count_q8, hr_q12, epoch_n)
        self._logits()
        self.wake_lo_q10 = self._wake_lo() if valid else 0
        self._forward(valid)
        self.valid = valid
        self.epochs += 1
        if valid and self.wake_lo_q10 > self._wake_th:
            self.stage = WAKE
        else:
            a = self.log_q10
            best = LIGHT
            for k in (DEEP, REM):
                if a[k] > a[best]:
                    best = k
            self.stage = best
        return self.stage

    def _logits(self):
        x = self.x_q10
        z = self._z
        w = self._w
        lg = self.logit_q10
        for k in range(N_STAGES):
            lg[k] = self._b[k]
        for j in range(N_FEATURES):
            d = x[j] - self._mu[j]
            if d > _D_MAX_Q10:
                d = _D_MAX_Q10
            elif d < -_D_MAX_Q10:
                d = -_D_MAX_Q10
            zj = (d * self._isd[j]) >> 10
            if zj > _Z_MAX_Q10:
                zj = _Z_MAX_Q10
            elif zj < -_Z_MAX_Q10:
                zj = -_Z_MAX_Q10
            z[j] = zj
            for k in range(N_STAGES):
                lg[k] += (w[k * N_FEATURES + j] * zj) >> 10

    def _wake_lo(self):
        # The binary wake model's log-odds, on the same standardised features.
        acc = self._wake_b
        for j in range(N_FEATURES):
            acc += (self._wake_w[j] * self._z[j]) >> 10
        return acc

    def _forward(self, valid):
        a = self.log_q10
        nxt = self._next
        lt = self._lt
        for j in range(N_STAGES):
            s = a[0] + lt[j]
            for i in range(1, N_STAGES):
                s = lse_q10(s, a[i] + lt[i * N_STAGES + j])
            if valid:
                # Scaled likelihood P(x | stage) ~ P(stage | x) / P(stage), tempered by gamma
                # because the smoothed features of neighbouring epochs are far from independent.
                e = self.logit_q10[j] - self._lp[j]
                if e > 32768:
                    e = 32768
                elif e < -32768:
                    e = -32768
                s += (self._gamma * e) >> 10
            nxt[j] = s
        for j in range(N_STAGES):
            a[j] = nxt[j]
        self._normalise()

    def _normalise(self):
        a = self.log_q10
        m = a[0]
        for k in range(1, N_STAGES):
            if a[k] > m:
                m = a[k]
        floor = _LOG_FLOOR_Q10
        for k in range(N_STAGES):
            v = a[k] - m
            a[k] = v if v > floor else floor
        total = a[0]
        for k in range(1, N_STAGES):
            total = lse_q10(total, a[k])
        for k in range(N_STAGES):
            self.prob_q15[k] = exp_q15(a[k] - total)
