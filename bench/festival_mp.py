"""Festival sync in one process: N cocoons (PhaseSync + Festival, the firmware's own code) exchange
real encoded, authenticated sync packets through a simulated lossy broadcast channel.

    MICROPYPATH=firmware micropython bench/festival_mp.py lock 5 20 100 3   # N loss% K seed
    MICROPYPATH=firmware micropython bench/festival_mp.py cost

Runs on the MicroPython unix port (bench/bench_festival.py starts it); prints one JSON line.
Every cocoon runs the app's 20-ms loop in lockstep (phasesync.advance(2), festival.step); a packet
reaches each other cocoon unless that receiver loses it (each draws on its own, like real radio),
and is read at the receiver's next loop. Starting phases and configured tempos (8-12 per minute)
are drawn from the seed. r is the Kuramoto order parameter of the true phases, every 0.5 s.
"""

import gc
import json
import math
import sys
import time

from cocoon import config, festival
from cocoon.core.phasesync import PhaseSync

LOOP_MS = 20
_PERIOD = 1 << 30
_HALF = _PERIOD >> 1


class Clock:
    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & (_PERIOD - 1)) - _HALF

    def ticks_add(self, t, d):
        return (t + d) & (_PERIOD - 1)


class Store:
    def __init__(self):
        self.data = None

    def read(self):
        return self.data

    def write(self, b):
        self.data = bytes(b)


class Rng:
    def __init__(self, seed):
        self.x = seed * 2654435761 % 2147483647 or 1

    def below(self, n):
        self.x = self.x * 48271 % 2147483647  # Park-Miller
        return self.x % n


class Radio:
    def __init__(self, air, node):
        self.air = air
        self.mac = bytes((2, 0xCC, 0, 0, node >> 8, node & 0xFF))
        self.inbox = []
        air.radios.append(self)

    def send(self, b):
        self.air.sent += 1
        for r in self.air.radios:
            if r is not self:
                if self.air.loss_pct and self.air.rng.below(100) < self.air.loss_pct:
                    self.air.lost += 1
                else:
                    r.inbox.append(b)

    def recv_into(self, buf):
        if not self.inbox:
            return 0
        p = self.inbox.pop(0)
        n = min(len(p), len(buf))
        buf[:n] = p[:n]
        return n


class Air:
    def __init__(self, loss_pct, seed):
        self.radios = []
        self.loss_pct = loss_pct
        self.rng = Rng(seed + 1000)
        self.sent = 0
        self.lost = 0


class Board:
    pass


def cocoon(air, node, **changes):
    b = Board()
    b.clock = Clock()
    b.store = Store()
    b.info = {}
    b.radio = Radio(air, node)
    cfg = config.defaults()
    cfg["mode"] = "festival"
    problems = config.update(cfg, changes) if changes else []
    if problems:
        raise ValueError(problems)
    sync = PhaseSync()
    return sync, festival.Festival(b, cfg, sync)


def order(syncs):
    c = s = 0.0
    for sy in syncs:
        a = 2 * math.pi * sy.phase_q16() / 65536
        c += math.cos(a)
        s += math.sin(a)
    return math.sqrt(c * c + s * s) / len(syncs)


def lock(n, loss_pct, k_mhz, seed, seconds=120):
    rng = Rng(seed)
    air = Air(loss_pct, seed)
    ids = []
    while len(ids) < n:
        i = 1 + rng.below(65534)
        if i not in ids:
            ids.append(i)
    nodes = []
    for node in ids:
        period = 5000 + 100 * rng.below(26)  # 12 .. 8 pulses per minute
        sync, fest = cocoon(air, node, sync_period_ms=period, sync_k_mhz=k_mhz)
        fest.activate(True, 0)
        sync.advance(rng.below(1500))  # a random phase at its own tempo
        nodes.append((sync, fest))
    syncs = [s for s, _ in nodes]
    rs = []
    t = 0
    while t < seconds * 1000:
        t += LOOP_MS
        for sync, fest in nodes:
            sync.advance(LOOP_MS // 10)
            fest.step(t)
        if t % 500 == 0:
            rs.append(order(syncs))
    held = None  # first sample from which r > 0.95 to the end, at least the last 30 s
    for i in range(len(rs)):
        if rs[i] > 0.95:
            if held is None:
                held = i
        else:
            held = None
    if held is not None and held > len(rs) - 60:
        held = None  # above 0.95 only for a moment: not a lock
    tail = rs[-120:]  # the last 60 s
    return {
        "n": n,
        "loss": loss_pct,
        "k": k_mhz,
        "seed": seed,
        "lock_s": (held + 1) * 0.5 if held is not None else None,
        "r_tail_mean": sum(tail) / len(tail),
        "r_tail_above": sum(1 for r in tail if r > 0.95) / len(tail),
        "sent": air.sent,
        "lost": air.lost,
        "rx": sum(f.rx for _, f in nodes),
        "rej": sum(sum(f.rej) for _, f in nodes),
    }


def cost():
    """Per packet: bytes allocated and time, received and sent, against an idle loop's step."""
    air = Air(0, 1)
    tx_sync, tx = cocoon(air, 1)
    rx_sync, rx = cocoon(air, 2)
    tx.activate(True, 0)
    rx.activate(True, 0)
    t = 0
    rx._next_tx_ms = 1 << 28  # the receiver sends nothing while it is measured
    for _ in range(800):
        tx_sync.advance(70)
        tx._send(t)
    packets = rx.radio.inbox
    rx.radio.inbox = []
    out = {}
    # Allocation: the heap in use before and after, no collection in between.
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for p in packets[:50]:
        rx.radio.inbox.append(p)
        rx.step(t)
    out["rx_bytes"] = (gc.mem_alloc() - a0) // 50
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(50):
        tx._send(t)
    out["tx_bytes"] = (gc.mem_alloc() - a0) // 50
    rx.radio.inbox = []
    gc.collect()
    a0 = gc.mem_alloc()
    for _ in range(1000):
        rx.step(t)
    out["idle_bytes"] = gc.mem_alloc() - a0
    gc.enable()
    # Time: best of 5 runs each.

    def best(fn, reps):
        b = None
        for _ in range(5):
            gc.collect()
            t0 = time.ticks_us()
            fn(reps)
            dt = time.ticks_diff(time.ticks_us(), t0) / reps
            b = dt if b is None or dt < b else b
        return b

    nxt = [50]

    def receive(reps):
        for _ in range(reps):
            rx.radio.inbox.append(packets[nxt[0]])
            nxt[0] += 1
            rx.step(t)

    def idle(reps):
        for _ in range(reps):
            rx.step(t)

    def send(reps):
        for _ in range(reps):
            tx._send(t)
        rx.radio.inbox = []

    def advance(reps):
        for _ in range(reps):
            rx_sync.advance(2)

    out["idle_us"] = best(idle, 2000)
    out["rx_us"] = best(receive, 140)
    out["rx_ok"] = rx.rx
    out["tx_us"] = best(send, 200)
    out["advance_us"] = best(advance, 2000)
    return out


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "lock":
        n, loss, k, seed = (int(x) for x in sys.argv[2:6])
        print(json.dumps(lock(n, loss, k, seed)))
    else:
        print(json.dumps(cost()))
