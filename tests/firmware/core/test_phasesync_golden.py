# Golden vectors: the fixed-point loop against the float64 model of the same loop
# (tests/firmware/phasesync_float.py, rows generated on CPython into phasesync_golden.py), on
# CPython and on the MicroPython unix port. The largest differences are reported by `make bench`.
import phasesync_cases as pc
import phasesync_golden as golden
from cocoon.core import phasesync as ps

Q32 = 4294967296
# Tolerances while beats steer the loop: 1e-4 turn of phase is 0.3 ms on a 3.2 s pulse; the
# frequency to 2e-4 relative: once locked it is 1 / the predicted interval, which the integer
# predictor rounds to 1/128 tick (78 us, 1e-4 of an 800 ms beat; the interval and the prediction
# are each rounded). Without beats nothing pulls the two back together, and the integer
# relaxation (rounded away from zero) drifts from the exponential: after the scenario's final
# minute without beats the allowance is 2e-3 turn (6 ms) and 5e-4 relative.
PHASE_TOL_TURNS = 1e-4
FREQ_TOL_REL = 2e-4
FREE_PHASE_TOL_TURNS = 2e-3
FREE_FREQ_TOL_REL = 5e-4


def run_fixed():
    sync = ps.PhaseSync()
    sync.st[ps.S_FREQ] = sync.cfg[ps.C_FREST] * 6 // 5  # as phasesync_float.start_freq_q32
    rows = []
    for ev in pc.golden_scenario():
        v = pc.apply(sync, ev)
        rows.append(
            (
                (sync.st[ps.S_PHASE] & 0xFFFFFFFF) / Q32,
                sync.freq_q32() / Q32 * 1e6,
                sync.lock_state(),
                v,
            )
        )
    return rows


def last_beat_index():
    events = pc.golden_scenario()
    return max(i for i in range(len(events)) if events[i][0] == "beat")


def differences(rows, start=0, end=None):
    worst_phase, worst_freq, mismatches = 0.0, 0.0, 0
    end = len(rows) if end is None else end
    for i in range(start, end):
        mine, want = rows[i], golden.ROWS[i]
        d = mine[0] - want[0]
        d -= int(d + 0.5) if d >= 0 else int(d - 0.5)  # wrap to [-0.5, 0.5]
        worst_phase = max(worst_phase, abs(d))
        worst_freq = max(worst_freq, abs(mine[1] - want[1]) / want[1])
        mismatches += mine[2] != want[2] or mine[3] != want[3]
    return worst_phase, worst_freq, mismatches


def test_fixed_point_follows_the_float64_model():
    rows = run_fixed()
    assert len(rows) == len(golden.ROWS)
    k = last_beat_index() + 1
    worst_phase, worst_freq, mismatches = differences(rows, 0, k)
    assert mismatches == 0, mismatches  # same lock decisions and beat verdicts all the way
    assert worst_phase < PHASE_TOL_TURNS, worst_phase
    assert worst_freq < FREQ_TOL_REL, worst_freq
    worst_phase, worst_freq, mismatches = differences(rows, k)
    assert mismatches == 0, mismatches
    assert worst_phase < FREE_PHASE_TOL_TURNS, worst_phase
    assert worst_freq < FREE_FREQ_TOL_REL, worst_freq


def test_the_comparison_can_fail():
    rows = run_fixed()
    k = len(rows) // 2
    shifted = rows[:k] + [(rows[k][0] + 2 * PHASE_TOL_TURNS,) + rows[k][1:]] + rows[k + 1 :]
    assert differences(shifted)[0] >= 2 * PHASE_TOL_TURNS * 0.99
    flipped = rows[:k] + [rows[k][:2] + (9, rows[k][3])] + rows[k + 1 :]
    assert differences(flipped)[2] == 1
