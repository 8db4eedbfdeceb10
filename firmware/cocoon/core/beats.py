"""Heartbeats from a PPG stream: beat times, intervals, heart rate, RMSSD and signal quality.

    det = BeatDetector(period_us=10000)        # 100 samples/s, as the MAX30102 driver delivers
    det.feed(ir, n); t_us = det.take_beat()    # -1: no new beat; det.hr_x10 == 0: "no reading"

Integers only, streaming, allocation-free per sample (state in ints and array('i') rings).

1. Slope: light through a fingertip drops fast at each systole. A 200 ms boxcar smooths the raw
   samples and the drop over 200 ms gives the rise of blood volume (a ~0.5-3 Hz band-pass): its
   peaks are the steepest points of the upstrokes, the most stable fiducial of a PPG pulse.
2. Candidates: two moving averages of the positive slope, one over a peak (~110 ms) and one over a
   beat (~900 ms), both centred on the sample being decided; where the first stands above the
   second, an upstroke is under way (Elgendi's TERMA: Elgendi et al., PLoS ONE 8(10) e76585, 2013).
   Each such block yields one candidate: its highest slope, timed to a fraction of a sample by a
   parabola through its neighbours, minus the filters' delay.
3. Beats: a chain starts from four recent candidates (not necessarily consecutive: noise may sit
   between) whose three intervals agree within 20 % and have no beat-sized candidate half-way
   (which would mean half the heart rate). Then the tracker expects each next beat one reference
   interval (median of the last 5 accepted) after the last and picks the best candidate inside
   70-130 % of it (highest slope, favouring the expected time). Candidates before the window are
   extra detections (dicrotic waves, noise); an empty window is a missed beat (the next beat gives
   no interval). Beat-sized candidates half-way, window after window, mean the tracker runs at half
   the rate: it starts over, as it does after three missed beats. Beats are known ~1 s after they
   happen (filters, the centred decision, the window); their times are exact.
4. Quality (0..100): the share of the last 8 windows with a clean beat (one clear candidate,
   nothing beat-sized before it, the interval within 20 % of the reference: Malik's artefact
   rule), zero without finger contact (DC too low or the ADC clipping) or without a beat for 2.5
   intervals, and held below QUALITY_MIN unless the slope repeats itself one interval later
   (autocorrelation over 8 s, checked every 2 s, two checks in a row). Below QUALITY_MIN the heart
   rate and RMSSD read 0: "no reading" rather than a wrong number (on white noise a number shows
   about 2 % of the time).
Times are us on the sensor's sample timeline, wrapped at 2^30 like ticks_us (use ticks_diff).
Epoch sums take the clean intervals that a periodicity check has confirmed; an epoch has a heart
rate when they span half of it (take_epoch() returns and clears them).
Tuning: on synthetic signals and the odd-numbered subjects of ../shared/data/welltory-ppg only.
"""

from array import array

from micropython import const

from cocoon.core.intmath import isqrt

QUALITY_MIN = const(60)
EPOCH_READING_MIN = const(50)  # % of an epoch with a reading, or the epoch has no heart rate
TICKS_MASK = const(0x3FFFFFFF)
_HALF = const(0x20000000)
_SLOPE_CLAMP = const(1 << 21)  # keeps (c - a) * 128 in the sub-sample step below 2^30
_CLIP_LEVEL = const(0x3F000)  # within 1.6 % of the 18-bit full scale: the ADC is clipping
_HIST = const(8)  # accepted IBIs kept for the median and the heart rate
_RMS_N = const(16)  # successive differences kept for RMSSD
_IBI_MIN_MS = const(250)  # 240 bpm
_IBI_MAX_MS = const(2000)  # 30 bpm
_SSD_CAP = const(1 << 29)
_AC_HZ = const(25)  # the periodicity check works on the slope at 25 samples/s
_AC_N = const(200)  # over the last 8 s
_AC_SIZE = const(256)
_AC_EVERY = const(50)  # every 2 s
_AC_MAX = const(1023)  # slope scaled into 10 bits: centred products < 2^21, sums < 2^29
_NONE = const(-1)


def ticks_diff(a, b):
    """a - b for times wrapped at 2^30 (like time.ticks_diff)."""
    return ((a - b + _HALF) & TICKS_MASK) - _HALF


class BeatDetector:
    def __init__(
        self,
        period_us=10000,
        min_dc=16384,
        smooth_ms=200,
        span_ms=200,
        peak_ms=110,
        beat_ms=900,
        offset_q8=8,
        regular_q8=51,
        periodic_pct=25,
    ):
        if not 2500 <= period_us <= 40000:
            raise ValueError("BeatDetector: 25..400 samples/s")
        self.period_us = period_us
        self.min_dc = min_dc  # below: no finger (18-bit counts)
        rate_sps = 1000000 // period_us
        self._w = max(1, (rate_sps * smooth_ms + 500) // 1000)  # boxcar length
        self._d = max(1, (rate_sps * span_ms + 500) // 1000)  # slope span
        self._h1 = max(1, (rate_sps * peak_ms + 1000) // 2000)  # half "peak" window
        self._h2 = max(self._h1 + 1, (rate_sps * beat_ms + 1000) // 2000)  # half "beat" window
        self._offset_q8 = offset_q8  # threshold offset: this share (Q8) of the mean slope
        self._regular_q8 = regular_q8  # largest deviation from the reference, Q8 of it
        self._periodic_min = periodic_pct  # below: the slope does not repeat, no reading
        size = 1
        while size < self._w + self._d + 2:
            size <<= 1
        self._mask = size - 1
        self._xs = array("i", [0] * size)  # raw samples
        self._ss = array("i", [0] * size)  # boxcar sums
        size = 1
        while size < 2 * self._h2 + 2:
            size <<= 1
        self._vmask = size - 1
        self._vs = array("i", [0] * size)  # positive slope
        # How far the decided sample's slope peak lags the light: the boxcar ((W-1)/2), the span
        # (D/2), and half a beat window (the decision waits for it).
        self._delay_us = (self._w - 1 + self._d) * period_us // 2 + self._h2 * period_us
        self._block_us = 2 * self._h1 * period_us  # a window closes this long after its end
        self._second_n = rate_sps
        self._ibis = array("i", [0] * _HIST)  # accepted IBIs, ms (ring)
        self._sorted = array("i", [0] * _HIST)
        self._diffs = array("i", [0] * _RMS_N)  # squared successive IBI differences (ring)
        self._boot = array("i", [0] * 3)  # the intervals that start a chain
        self._cand_t = array("i", [0] * 8)  # the last candidates while no chain exists (ring)
        self._cand_a = array("i", [0] * 8)
        self._beats = array("i", [0] * 8)  # beat times not yet taken (ring)
        self._ac = array("i", [0] * _AC_SIZE)  # decimated, scaled slope for the periodicity check
        self._ac_every = max(1, rate_sps // _AC_HZ)
        self._warm_n = 2 * self._h2 + self._w + self._d  # filters still settling
        self.reset()

    def reset(self):
        """Forget everything (new finger, new night)."""
        vs = self._vs
        for k in range(len(vs)):
            vs[k] = 0  # the running sums below start from an empty slope ring
        self._i = 0
        self._j = 0
        self._n = 0  # samples seen (saturates)
        self.t_us = 0  # time of the newest sample, sensor timeline, wrapped at 2^30
        self.dc = 0
        self._sum = 0
        self._sum_peak = 0
        self._sum_beat = 0
        self._mean_q4 = 0
        self._block_len = 0
        self._block_max = 0
        self._block_t = 0
        self._win_n = 0
        self._win_bad = 0
        self.contact = False
        self._amp = 0  # running slope of accepted beats
        self._cand_head = 0
        self._cand_n = 0
        self._base_t = 0  # where the current window is measured from (moves on a missed beat)
        self._misses = 0
        self._best_t = _NONE  # best candidate in the current window
        self._best_a = 0
        self._best_score = 0
        self._second_a = 0  # the strongest other candidate in the window
        self._early_big = False
        self._early_any = False
        self._since_beat_us = 0
        self._chain = False
        self._ibi_n = 0
        self._ibi_head = 0
        self._diff_n = 0
        self._diff_head = 0
        self._prev_ibi = 0  # last accepted IBI if the beat before it was tracked too, else 0
        self._bits = 0  # last 8 windows, 1 = a clean beat
        self._halfrate = 0  # last 8 windows, 1 = a big early candidate
        self._beat_head = 0
        self._beat_count = 0
        self.ref_ibi_ms = 0
        self.ibi_ms = 0
        self.hr_x10 = 0  # heart rate in 0.1 bpm, 0 = no reading
        self.rmssd_ms = 0
        self.quality = 0
        self.candidates_total = 0
        self.beats_total = 0
        self.accepted_total = 0
        self._stale_limit_us = 3000000
        self._ac_head = 0
        self._ac_n = 0
        self._ac_tick = 0
        self._ac_new = 0
        self._aperiodic = 0  # periodicity checks in a row that failed
        self._periodic_ok = 0  # ... and that passed
        self._pend_n = 0  # intervals waiting for the next periodicity check
        self._pend_ibi_ms = 0
        self._pend_pairs = 0
        self._pend_ssd = 0
        self.periodic_pct = 0  # the slope's correlation with itself one interval later
        self._epoch_clear()

    def _epoch_clear(self):
        self.epoch_beats = 0  # accepted intervals
        self.epoch_ibi_ms = 0
        self.epoch_ssd = 0
        self.epoch_pairs = 0
        self.epoch_reading_us = 0
        self.epoch_us = 0

    def take_epoch(self):
        """(accepted IBIs, mean IBI ms, RMSSD ms, % of time with a reading) since the last call,
        then clears. Mean IBI and RMSSD are 0 ("no reading") when the epoch had a reading less
        than EPOCH_READING_MIN % of the time, or no accepted intervals (pairs for RMSSD)."""
        n = self.epoch_beats
        cov = self.epoch_reading_us // (self.epoch_us // 100) if self.epoch_us >= 100 else 0
        cov = min(100, cov)
        # the validated intervals must span EPOCH_READING_MIN % of the epoch
        ok = self.epoch_us >= 100000 and self.epoch_ibi_ms * 100 >= (
            self.epoch_us // 1000 * EPOCH_READING_MIN
        )
        mean = self.epoch_ibi_ms // n if n and ok else 0
        rmssd = isqrt(self.epoch_ssd // self.epoch_pairs) if self.epoch_pairs and ok else 0
        out = (n, mean, rmssd, cov)
        self._epoch_clear()
        return out

    def take_beat(self):
        """Time (us, wrapped) of the oldest tracked beat not yet taken, or -1."""
        if self._beat_count == 0:
            return _NONE
        i = (self._beat_head - self._beat_count) & 7
        self._beat_count -= 1
        return self._beats[i]

    def gap(self, samples):
        """`samples` samples were lost (FIFO overflow): time moves on; the next beat has no IBI."""
        self.t_us = (self.t_us + samples * self.period_us) & TICKS_MASK
        self._block_len = 0
        self._block_max = 0
        self._prev_ibi = 0
        if self._chain:
            self._misses = 1  # the window restarts from the next beat, which gives no interval
            self._base_t = (self.t_us - self._delay_us) & TICKS_MASK
            self._best_t = _NONE
        else:
            self._cand_n = 0

    # -- per sample -------------------------------------------------------------------------------
    def feed(self, samples, n):
        """Process samples[0..n) (raw 18-bit counts, light intensity). Returns beats tracked."""
        before = self.beats_total
        xs = self._xs
        ss = self._ss
        vs = self._vs
        mask = self._mask
        vmask = self._vmask
        w = self._w
        d = self._d
        h1 = self._h1
        h2 = self._h2
        i = self._i
        j = self._j
        s = self._sum
        dc = self.dc
        for k in range(n):
            x = samples[k]
            if self._n == 0:
                dc = x
                for q in range(mask + 1):
                    xs[q] = x
                    ss[q] = x * w
                s = x * w
            i = (i + 1) & mask
            xs[i] = x
            s += x - xs[(i - w) & mask]
            ss[i] = s
            v = ss[(i - d) & mask] - s  # drop of light over the span: rise of blood volume
            if v < 0:
                v = 0
            elif v > _SLOPE_CLAMP:
                v = _SLOPE_CLAMP
            j = (j + 1) & vmask
            vs[j] = v
            # beat average: 2*h2+1 samples ending now; peak average: 2*h1+1 samples centred on
            # the sample being decided, h2 back: both averages are centred on it
            self._sum_beat += v - vs[(j - 2 * h2 - 1) & vmask]
            self._sum_peak += vs[(j - h2 + h1) & vmask] - vs[(j - h2 - h1 - 1) & vmask]
            self._mean_q4 += ((v << 4) - self._mean_q4) >> 10
            dc += (x - dc) >> 6
            self.t_us = (self.t_us + self.period_us) & TICKS_MASK
            if self._n < 0x3FFFFFFF:
                self._n += 1
            self._contact(x, dc)
            self._ac_tick += 1
            if self._ac_tick >= self._ac_every and self._n > self._warm_n:
                self._ac_tick = 0
                self._ac_push(v)
            self._step(j)
        self._i = i
        self._j = j
        self._sum = s
        self.dc = dc
        return self.beats_total - before

    def _contact(self, x, dc):
        self._win_n += 1
        if x >= _CLIP_LEVEL or x < self.min_dc:
            self._win_bad += 1
        if self._win_n >= self._second_n:
            # a finger is on when under 10 % of the last second clipped or sat below min_dc
            self.contact = self._win_bad * 10 < self._win_n and dc >= self.min_dc
            self._win_n = 0
            self._win_bad = 0

    def _step(self, j):
        period = self.period_us
        h1 = self._h1
        h2 = self._h2
        avg_peak = self._sum_peak // (2 * h1 + 1)
        avg_beat = self._sum_beat // (2 * h2 + 1)
        offset = (self._mean_q4 * self._offset_q8) >> 12
        if self._n > 2 * h2 + 1 and avg_peak > avg_beat + offset:
            m = (j - h2) & self._vmask  # the sample being decided
            vm = self._vs[m]
            self._block_len += 1
            if vm > self._block_max:
                self._block_max = vm
                self._block_t = self._sub_t(m)
        elif self._block_len:
            if self._block_len >= h1 and self._block_max > 0:
                self._candidate(self._block_max, self._block_t)
            self._block_len = 0
            self._block_max = 0
        self._since_beat_us += period
        if self._chain:
            # Close the window once the decided time has passed its end (and a block could end).
            now = (self.t_us - self._delay_us) & TICKS_MASK
            if ticks_diff(now, self._base_t) > self.ref_ibi_ms * 1300 + self._block_us:
                self._close_window()
        self.epoch_us += period
        if self.quality >= QUALITY_MIN:
            self.epoch_reading_us += period
        if self._since_beat_us > self._stale_limit_us and (self._bits or self.quality):
            self._bits = 0
            self._update_quality()

    def _sub_t(self, m):
        """Time of the slope peak at ring index m, refined by a parabola through its neighbours."""
        vs = self._vs
        vmask = self._vmask
        a = vs[(m - 1) & vmask]
        b = vs[m]
        c = vs[(m + 1) & vmask]
        den = 2 * b - a - c  # > 0 at a maximum
        frac_q8 = 0
        if den > 0:
            num = (c - a) * 128
            frac_q8 = num // den if num >= 0 else -((-num) // den)
            if frac_q8 > 128:
                frac_q8 = 128
            elif frac_q8 < -128:
                frac_q8 = -128
        return (self.t_us + (frac_q8 * self.period_us >> 8) - self._delay_us) & TICKS_MASK

    # -- candidates -------------------------------------------------------------------------------
    def _candidate(self, a, t):
        self.candidates_total += 1
        if self._chain:
            self._in_chain(a, t)
        else:
            self._in_bootstrap(a, t)

    def _in_bootstrap(self, a, t):
        # Keep the last 8 candidates; look for four of them (not necessarily consecutive: noise may
        # sit between) whose three intervals agree within 20 %. The strongest such run starts the
        # chain.
        ct = self._cand_t
        ca = self._cand_a
        head = self._cand_head
        if self._cand_n:
            last = (head - 1) & 7
            if ticks_diff(t, ct[last]) < 250000:  # one beat, two blocks: keep the bigger
                if a > ca[last]:
                    ct[last] = t
                    ca[last] = a
                    self._search_run()
                return
        ct[head] = t
        ca[head] = a
        self._cand_head = (head + 1) & 7
        if self._cand_n < 8:
            self._cand_n += 1
        self._search_run()

    def _search_run(self):
        ct = self._cand_t
        ca = self._cand_a
        n = self._cand_n
        c = (self._cand_head - 1) & 7
        tc = ct[c]
        best = 0
        for i in range(1, n):
            p = (c - i) & 7
            i1 = (ticks_diff(tc, ct[p]) + 500) // 1000
            if i1 < _IBI_MIN_MS:
                continue
            if i1 > _IBI_MAX_MS:
                break
            q = self._match(p, i1, i + 1, n)
            if q < 0:
                continue
            i2 = (ticks_diff(ct[p], ct[q]) + 500) // 1000
            r = self._match(q, i1, ((c - q) & 7) + 1, n)
            if r < 0:
                continue
            i3 = (ticks_diff(ct[q], ct[r]) + 500) // 1000
            lo = min(i1, i2, i3)
            hi = max(i1, i2, i3)
            if hi * 5 > lo * 6:
                continue
            weakest = min(ca[c], ca[p], ca[q], ca[r])
            if weakest <= best:
                continue
            # A run at half the heart rate has a beat-sized candidate in the middle of its
            # intervals: skip it when two of the three do.
            mids = self._mid(c, p, weakest) + self._mid(p, q, weakest) + self._mid(q, r, weakest)
            if mids < 2:
                best = weakest
                b = self._boot
                b[0] = i3
                b[1] = i2
                b[2] = i1
        if best:
            self._start_chain(tc, best)

    def _mid(self, late, early, amp):
        """1 if a candidate of at least 60 % of amp lies 35-65 % of the way from early to late."""
        ct = self._cand_t
        span = ticks_diff(ct[late], ct[early])
        for k in range(self._cand_n):
            dt = ticks_diff(ct[k], ct[early])
            if 20 * dt > 7 * span and 20 * dt < 13 * span and 5 * self._cand_a[k] >= 3 * amp:
                return 1
        return 0

    def _match(self, p, ibi_ms, first, n):
        """The strongest earlier candidate about ibi_ms before candidate p, or -1."""
        ct = self._cand_t
        ca = self._cand_a
        found = -1
        for k in range(first, n):
            q = (self._cand_head - 1 - k) & 7
            dt = (ticks_diff(ct[p], ct[q]) + 500) // 1000
            if dt * 5 > ibi_ms * 6:
                break
            if dt * 6 >= ibi_ms * 5 and (found < 0 or ca[q] > ca[found]):
                found = q
        return found

    def _start_chain(self, t, a):
        self._chain = True
        self._ibi_n = 0
        self._prev_ibi = 0
        # Three intervals that agree, with no beat-sized candidate between them, weigh like five
        # clean windows: enough for a reading (QUALITY_MIN), which the next doubt takes away.
        self._bits = 0x1F
        b = self._boot
        for k in range(3):
            self._accept(b[k], True)  # the first accepted intervals
        self._amp = a
        self._base_t = t
        self._misses = 0
        self._best_t = _NONE
        self._early_big = False
        self._early_any = False
        self._halfrate = 0
        self._emit(t)
        self._ac_new = 0
        self._periodicity()

    def _restart(self):
        self._chain = False
        self._cand_n = 0
        self._ibi_n = 0
        self._prev_ibi = 0
        self.ref_ibi_ms = 0
        self._stale_limit_us = 3000000
        self._bits = 0
        self._update_quality()

    def _in_chain(self, a, t):
        ref_us = self.ref_ibi_ms * 1000
        dt = ticks_diff(t, self._base_t)
        if dt < ref_us * 7 // 10:
            # As big as a beat, half-way between beats: what a tracker running at half the
            # heart rate sees (a dicrotic wave comes earlier and smaller).
            if 4 * a >= 3 * self._amp and dt > 250000:
                self._early_any = True  # an ambiguous window: not a clean beat
                if 5 * dt > 2 * ref_us and 5 * dt < 3 * ref_us:
                    self._early_big = True
            return
        off = dt - ref_us
        if off < 0:
            off = -off
        if off > ref_us * 3 // 10:
            return  # past the window: it closes on time and moves the base
        # score: the slope, weighed down to half at the window's edges (a * 256 < 2^30)
        weight_q8 = 256 - (off // 1000) * 128 // (self.ref_ibi_ms * 3 // 10 + 1)
        score = (a * weight_q8) >> 8
        if score > self._best_score or self._best_t == _NONE:
            if self._best_t != _NONE and self._best_a > self._second_a:
                self._second_a = self._best_a
            self._best_t = t
            self._best_a = a
            self._best_score = score
        elif a > self._second_a:
            self._second_a = a

    def _close_window(self):
        t = self._best_t
        # Clean: one clear candidate where the beat was due, nothing beat-sized before it. Noise
        # offers several similar candidates in most windows, so it seldom gives a reading.
        clean = t != _NONE and not self._early_any and 3 * self._second_a < 2 * self._best_a
        self._second_a = 0
        self._halfrate = ((self._halfrate << 1) | (1 if self._early_big else 0)) & 0xFF
        self._early_big = False
        self._early_any = False
        if t == _NONE:
            self._misses += 1
            self._prev_ibi = 0
            self._base_t = (self._base_t + self.ref_ibi_ms * 1000) & TICKS_MASK
            self._decide(False)
            if self._misses >= 3:
                self._restart()
            return
        a = self._best_a
        self._best_t = _NONE
        self._best_score = 0
        ibi_ms = (ticks_diff(t, self._base_t) + 500) // 1000
        if self._misses == 0:
            # Regular: within regular_q8 (20 %) of the reference, Malik's rule for artefacts in
            # RR series (Malik et al., Eur Heart J 17(3) 1996). Noise picked by the window
            # rarely stays this close; irregular intervals stay out of the epoch sums.
            ref = self.ref_ibi_ms
            off = ibi_ms - ref if ibi_ms > ref else ref - ibi_ms
            if off * 256 > ref * self._regular_q8:
                clean = False
        self._decide(clean)
        if self._misses == 0:
            self._accept(ibi_ms, clean)
        else:
            self._prev_ibi = 0  # the first beat after a miss starts a new run of intervals
        self._misses = 0
        self._base_t = t
        clip = 2 * self._amp
        self._amp += ((a if a < clip else clip) - self._amp) >> 2
        self._emit(t)
        if _popcount(self._halfrate) >= 3:
            self._restart()  # a beat-sized candidate between beats, again and again: half rate

    def _emit(self, t):
        self.beats_total += 1
        self._since_beat_us = ticks_diff(self.t_us, t)
        self._beats[self._beat_head] = t
        self._beat_head = (self._beat_head + 1) & 7
        if self._beat_count < 8:
            self._beat_count += 1

    # -- intervals --------------------------------------------------------------------------------
    def _accept(self, ibi_ms, clean):
        self.accepted_total += 1
        dd = -1
        if self._prev_ibi:
            dd = ibi_ms - self._prev_ibi
            dd = dd * dd
            if dd > 1000000:
                dd = 1000000
            self._diffs[self._diff_head] = dd
            self._diff_head = (self._diff_head + 1) % _RMS_N
            if self._diff_n < _RMS_N:
                self._diff_n += 1
        self._prev_ibi = ibi_ms
        self._push_ibi(ibi_ms)
        self._update_quality()
        if not clean or _popcount(self._bits) * 100 // 8 < QUALITY_MIN:
            return
        # Held until the next periodicity check, whose 8-s window covers it, says the slope
        # repeats: then it joins the epoch; otherwise it is dropped.
        self._pend_n += 1
        self._pend_ibi_ms += ibi_ms
        if dd >= 0:
            self._pend_pairs += 1
            self._pend_ssd = min(_SSD_CAP, self._pend_ssd + dd)

    def _commit(self, keep):
        if keep:
            self.epoch_beats += self._pend_n
            self.epoch_ibi_ms += self._pend_ibi_ms
            self.epoch_pairs += self._pend_pairs
            self.epoch_ssd = min(_SSD_CAP, self.epoch_ssd + self._pend_ssd)
        self._pend_n = 0
        self._pend_ibi_ms = 0
        self._pend_pairs = 0
        self._pend_ssd = 0

    def _push_ibi(self, ibi_ms):
        self._ibis[self._ibi_head] = ibi_ms
        self._ibi_head = (self._ibi_head + 1) % _HIST
        if self._ibi_n < _HIST:
            self._ibi_n += 1
        self.ibi_ms = ibi_ms
        ref = self._median_ibi()
        self.ref_ibi_ms = ref
        self._stale_limit_us = max(3000000, ref * 2500)

    def _decide(self, clean):
        self._bits = ((self._bits << 1) | (1 if clean else 0)) & 0xFF
        self._update_quality()

    def _ac_push(self, v):
        # Scale the slope so its running mean lands near 64 (a beat's peak near 256-512): 10 bits
        # keep the sums within 31 bits.
        mean = self._mean_q4 >> 4
        shift = 0
        while mean > 63:
            mean >>= 1
            shift += 1
        v >>= shift
        self._ac[self._ac_head] = v if v < _AC_MAX else _AC_MAX
        self._ac_head = (self._ac_head + 1) % _AC_SIZE
        if self._ac_n < _AC_SIZE:
            self._ac_n += 1
        self._ac_new += 1
        if self._ac_new >= _AC_EVERY:
            self._ac_new = 0
            self._periodicity()

    def _periodicity(self):
        """Correlation (%) of the last (up to) 8 s of slope with itself about one reference
        interval later (the best of 5 lags 40 ms apart): a pulse repeats, noise does not (an
        autocorrelation signal-quality index, as in Li and Clifford, Physiol. Meas. 33(9) 2012)."""
        lag0 = (self.ref_ibi_ms * _AC_HZ + 500) // 1000
        m = self._ac_n if self._ac_n < _AC_N else _AC_N
        if not self._chain or lag0 < 4:
            self.periodic_pct = 0
            self._periodic_ok = 0
            self._commit(False)
            self._update_quality()
            return
        if m < _AC_N // 2 or m < 3 * lag0 + 2:
            return  # too little slope yet (just after the start): decide at the next check
        ac = self._ac
        start = self._ac_head - m
        total = 0
        for k in range(m):
            total += ac[(start + k) % _AC_SIZE]
        mean = total // m
        best = -100
        for lag in range(lag0 - 2, lag0 + 3):
            num = 0
            den = 0
            for k in range(m - lag):
                a = ac[(start + k) % _AC_SIZE] - mean
                b = ac[(start + k + lag) % _AC_SIZE] - mean
                num += a * b
                den += (a * a + b * b) >> 1
            r = num * 100 // den if den > 0 else 0
            if r > best:
                best = r
        self.periodic_pct = best
        self._commit(best >= self._periodic_min)
        if best < self._periodic_min:
            self._periodic_ok = 0
            self._aperiodic += 1
            if self._aperiodic >= 3:  # 6 s of picks that do not repeat: a wrong chain
                self._aperiodic = 0
                self._restart()
                return
        else:
            self._aperiodic = 0
            self._periodic_ok += 1  # a reading needs two checks in a row (4 s) to pass
        self._update_quality()

    def _update_quality(self):
        q = _popcount(self._bits) * 100 // 8
        if not self.contact or self._ibi_n == 0:
            q = 0
        elif self._periodic_ok < 2 and q >= QUALITY_MIN:
            q = QUALITY_MIN - 1  # regular-looking picks from a signal that does not repeat
        self.quality = q
        if q >= QUALITY_MIN:
            total = 0
            for k in range(self._ibi_n):
                total += self._ibis[k]
            self.hr_x10 = (600000 * self._ibi_n + total // 2) // total
            self.rmssd_ms = self._rmssd()
        else:
            self.hr_x10 = 0
            self.rmssd_ms = 0

    def _median_ibi(self):
        n = self._ibi_n
        if n == 0:
            return 0
        # the last (up to) 5 accepted IBIs, insertion-sorted into a scratch array
        m = 5 if n >= 5 else n
        srt = self._sorted
        for k in range(m):
            v = self._ibis[(self._ibi_head - 1 - k) % _HIST]
            q = k
            while q > 0 and srt[q - 1] > v:
                srt[q] = srt[q - 1]
                q -= 1
            srt[q] = v
        return srt[m // 2]

    def _rmssd(self):
        n = self._diff_n
        if n == 0:
            return 0
        total = 0
        for k in range(n):
            total += self._diffs[k]
        return isqrt(total // n)


def _popcount(bits):
    n = 0
    while bits:
        n += bits & 1
        bits >>= 1
    return n
