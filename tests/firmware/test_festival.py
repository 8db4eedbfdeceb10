# Festival sync (cocoon/festival.py): sync packets out and in through fake radios, peers to the
# pulse oscillator, the group's tempo and palette, and everything a packet can do wrong. Several
# cocoons run in lockstep in one process. Runs on CPython and on the MicroPython unix port.
import json
import math

import micropython
from appfakes import Store, board, frames, of_type
from cocoon import app, config, festival, proto, syncpkt
from cocoon.core.phasesync import BREATH, HEART, S_LIVE, PhaseSync
from mpt import raises

TICK_MS = 20  # one app loop at 50 frames per second


class Ether:
    """The air: a packet sent by one fake radio reaches every other one, unless lost."""

    def __init__(self, loss_pct=0, seed=12345):
        self.radios = []
        self.loss_pct = loss_pct
        self._x = seed

    def lost(self):
        if not self.loss_pct:
            return False
        self._x = (self._x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self._x >> 8) % 100 < self.loss_pct


class Radio:
    """board.radio: send(b), recv_into(buf) -> n (0 when nothing waits). Idle recv allocates
    nothing, so heap_lock tests stay honest."""

    def __init__(self, ether, node):
        self.ether = ether
        self.mac = bytes((2, 0xCC, 0, 0, node >> 8, node & 0xFF))
        self.inbox = []
        self.sent = []
        self.fail = False
        if ether is not None:
            ether.radios.append(self)

    def send(self, b):
        if self.fail:
            raise OSError(12)  # ESP-NOW's ESP_ERR_ESPNOW_NO_MEM surfaces as an OSError
        self.sent.append(bytes(b))
        if self.ether is not None:
            for r in self.ether.radios:
                if r is not self and not self.ether.lost():
                    r.inbox.append(bytes(b))

    def recv_into(self, buf):
        if not self.inbox:
            return 0
        p = self.inbox.pop(0)
        n = min(len(p), len(buf))
        buf[:n] = p[:n]
        return n


def settings(**changes):
    cfg = config.defaults()
    cfg["mode"] = "festival"
    if changes:
        assert config.update(cfg, changes) == []
    return cfg


class Node:
    """One cocoon without the rest of the app: its oscillator and its Festival."""

    def __init__(self, ether, nid, store=None, **changes):
        self.board = board(store=store)
        self.board.radio = Radio(ether, nid)
        self.cfg = settings(**changes)
        self.sync = PhaseSync()
        self.errors = []
        self.fest = festival.Festival(
            self.board, self.cfg, self.sync, None, lambda code, msg: self.errors.append(msg)
        )

    def step(self, t):
        self.sync.advance(TICK_MS // 10)
        self.fest.step(t)


def run(nodes, t, ms, each=None):
    end = t + ms
    while t < end:
        t += TICK_MS
        for n in nodes:
            n.step(t)
        if each is not None:
            each(t)
    return t


def order(syncs):
    """Kuramoto r of the true phases: |mean e^(i theta)|."""
    c = s = 0.0
    for sy in syncs:
        a = 2 * math.pi * sy.phase_q16() / 65536
        c += math.cos(a)
        s += math.sin(a)
    return math.sqrt(c * c + s * s) / len(syncs)


def peer_codec(nid=0x0B02, group=1, key=None):
    k = bytes.fromhex(key or config.DEMO_SYNC_KEY)
    return syncpkt.SyncCodec(group, k, nid, 10_000)


FEST = syncpkt.FLAG_FESTIVAL


# ------------------------------------------------------------------------------ sending


def test_packets_go_out_every_tx_period_jittered_and_authenticated():
    n = Node(None, 0x0A01)
    n.fest.activate(True, 0)
    run([n], 0, 20_000)
    sent = n.board.radio.sent
    # 700 ms +-25%: 20 s hold 22..38 packets; jittered, so not all gaps are alike.
    assert 22 <= len(sent) <= 38 and n.fest.tx == len(sent)
    rx = peer_codec()
    counters = []
    for p in sent:
        assert len(p) == syncpkt.LENGTH
        assert rx.decode(p) >= 0, rx.reason
        assert rx.flags & FEST and (rx.flags >> syncpkt.PALETTE_SHIFT) & 3 == 0
        counters.append(p[8] | p[9] << 8 | p[10] << 16 | p[11] << 24)
    # First boot: boots = 1, so counters run from 1 << 20 upwards, one apart.
    assert counters[0] == 1 << 20 and counters == list(range(counters[0], counters[0] + len(sent)))


def test_the_tx_period_is_jittered_around_the_setting():
    n = Node(None, 0x0A01, sync_tx_ms=1000)
    n.fest.activate(True, 0)
    times = []
    t = 0
    while t < 60_000:
        t += TICK_MS
        before = n.fest.tx
        n.step(t)
        if n.fest.tx != before:
            times.append(t)
    gaps = [times[i + 1] - times[i] for i in range(len(times) - 1)]
    assert min(gaps) >= 740 and max(gaps) <= 1260  # 1000 ms +-25% (one 20-ms loop of slack)
    assert max(gaps) - min(gaps) >= 200  # really jittered
    assert 900 <= sum(gaps) // len(gaps) <= 1100


def test_boot_counter_is_saved_raised_every_boot_and_keeps_the_other_settings():
    store = Store(json.dumps({"bri": 30, "sync_boots": 41}).encode())
    first = []
    for boot in range(2):
        cfg, problems = config.load(store)
        assert problems == []
        n = Node(None, 0x0A01, store=store)
        n.cfg = cfg
        cfg["mode"] = "festival"
        n.fest.configure(cfg)
        n.fest.activate(True, 0)
        run([n], 0, 3000)
        assert n.fest.boots == 42 + boot
        first.append(n.board.radio.sent[0])
        data = json.loads(store.data)
        assert data == {"bri": 30, "sync_boots": 42 + boot}  # nothing else written or lost
    c0 = first[0][8] | first[0][9] << 8 | first[0][10] << 16 | first[0][11] << 24
    c1 = first[1][8] | first[1][9] << 8 | first[1][10] << 16 | first[1][11] << 24
    assert c0 == 42 << 20 and c1 == 43 << 20


def test_a_store_that_fails_is_reported_and_the_radio_still_sends():
    n = Node(None, 0x0A01, store=Store(fail=True))
    n.fest.activate(True, 0)
    run([n], 0, 2000)
    assert n.fest.tx >= 2 and n.fest.boots == 1
    assert len(n.errors) == 1 and "boot counter" in n.errors[0]


def test_send_failures_are_counted_and_reported_once():
    n = Node(None, 0x0A01)
    n.board.radio.fail = True
    n.fest.activate(True, 0)
    run([n], 0, 5000)
    assert n.fest.tx == 0 and n.fest.tx_err >= 5
    assert len(n.errors) == 1 and "cannot send" in n.errors[0]
    n.board.radio.fail = False
    run([n], 5000, 2000)
    assert n.fest.tx >= 2


def test_opt_out_sends_nothing_and_hears_nobody():
    ether = Ether()
    a = Node(ether, 1, sync="off")
    b = Node(ether, 2)
    a.fest.activate(True, 0)
    b.fest.activate(True, 0)
    run([a, b], 0, 5000)
    assert a.board.radio.sent == [] and a.fest.tx == 0
    assert a.fest.rx == 0 and a.fest.rx_idle >= 5 and a.sync.live_peers() == 0
    assert b.fest.rx == 0  # nothing came from a


# ------------------------------------------------------------------------------ receiving


def test_bad_packets_are_dropped_and_counted_by_reason():
    n = Node(None, 0x0A01)
    n.fest.activate(True, 0)
    peer = peer_codec()
    good = peer.encode_values(5, 0x40000000, 7158278, FEST)
    tampered = bytearray(good)
    tampered[12] ^= 1  # the phase changed on the way
    inbox = n.board.radio.inbox
    inbox.append(good)
    inbox.append(bytes(tampered))
    inbox.append(good)  # the same again: a replay
    inbox.append(peer.encode_values(4, 0, 7158278, FEST))  # an older counter: a replay too
    inbox.append(peer_codec(group=2).encode_values(9, 0, 7158278, FEST))
    inbox.append(peer_codec(key="00112233445566778899").encode_values(9, 0, 7158278, FEST))
    inbox.append(peer_codec(nid=0x0A01).encode_values(9, 0, 7158278, FEST))  # our own id
    inbox.append(b"CS\x01 not a sync packet")
    inbox.append(good + b"\x00")  # too long
    inbox.append(peer.encode_values(6, 0, 7158278, 0))  # valid, but not in festival mode
    inbox.append(peer.encode_values(7, 0, 7158278, FEST))
    t = run([n], 0, 100)
    assert inbox == []
    p = n.fest.payload(t)
    assert p["rx"] == 2
    assert p["rej"] == {"format": 2, "group": 1, "tag": 2, "replay": 2, "own": 1, "mode": 1}
    assert len(n.errors) == 1 and "radio id 2561" in n.errors[0]  # another cocoon has our id
    assert p["peers"] == 1 and n.sync.live_peers() == 1


def test_a_flood_is_read_a_few_packets_per_loop():
    n = Node(None, 0x0A01)
    n.fest.activate(True, 0)
    peer = peer_codec()
    for i in range(10):
        n.board.radio.inbox.append(peer.encode_values(i + 1, 0, 7158278, FEST))
    n.step(TICK_MS)
    assert n.fest.rx == festival.MAX_RX_PER_STEP and len(n.board.radio.inbox) == 6
    run([n], TICK_MS, 3 * TICK_MS)
    assert n.fest.rx == 10


def test_a_valid_peer_pulls_and_expires_when_silent():
    n = Node(None, 0x0A01)
    n.fest.activate(True, 0)
    peer = peer_codec()
    # A peer a quarter turn ahead: the coupling moves us forward faster than our own tempo.
    solo = PhaseSync()
    solo.breathe(100, 100, 0, 32768)
    n.board.radio.inbox.append(peer.encode_values(1, (n.sync.phase_q16() + 16384) << 16, 0, FEST))
    t = run([n], 0, 100)
    solo.advance(10)
    assert n.sync.live_peers() == 1 and n.fest.payload(t)["peers"] == 1
    ahead = (n.sync.phase_q16() - solo.phase_q16()) & 0xFFFF
    assert 0 < ahead < 2000
    # Silent for longer than 4 periods (4 x 700 + 200 ms): dropped by the oscillator and here.
    t = run([n], t, 3100)
    assert n.sync.live_peers() == 0 and n.fest.payload(t)["peers"] == 0


def test_replays_from_before_a_reboot_are_rejected():
    store = Store()
    ether = Ether()
    rx = Node(ether, 0x0B02)
    rx.fest.activate(True, 0)
    tx = Node(ether, 0x0A01, store=store)
    tx.fest.activate(True, 0)
    t = run([tx, rx], 0, 3000)
    old = list(tx.board.radio.sent)
    assert len(old) >= 3 and rx.fest.rx == len(old)
    # The sender reboots (same store): its counters start above every old one.
    ether.radios.remove(tx.board.radio)
    tx2 = Node(ether, 0x0A01, store=store)
    tx2.cfg["sync_boots"] = json.loads(store.data)["sync_boots"]
    tx2.fest.activate(True, t)
    t = run([tx2, rx], t, 2000)
    heard = rx.fest.rx
    assert tx2.fest.boots == 2 and heard > len(old)
    for p in old:  # someone recorded boot 1 and plays it back
        rx.board.radio.inbox.append(p)
    t = run([tx2, rx], t, 500)
    assert rx.fest.rej[festival.R_REPLAY] == len(old)
    assert rx.fest.rx - heard <= 1  # only tx2's own new packets were taken


# ------------------------------------------------------------------------------ the group


def test_three_cocoons_lock_to_one_pulse_tempo_and_palette():
    ether = Ether(loss_pct=20)
    # Different tempos (12, 10 and 8 per minute), palettes and starting phases.
    a = Node(ether, 7, sync_period_ms=5000, festival=2)
    b = Node(ether, 3, sync_period_ms=6000, festival=1)
    c = Node(ether, 5, sync_period_ms=7500, festival=0)
    nodes = [a, b, c]
    for n, ticks in ((a, 0), (b, 180), (c, 450)):
        n.fest.activate(True, 0)
        n.sync.advance(ticks)  # at their own tempos: 0, 0.3 and 0.6 turn
    syncs = [n.sync for n in nodes]
    r0 = order(syncs)
    rs = []
    run(nodes, 0, 40_000, lambda t: rs.append(order(syncs)) if t % 1000 == 0 else None)
    assert r0 < 0.2
    locked_at = None  # the first second from which r stays above 0.95
    for i, r in enumerate(rs):
        if r > 0.95:
            if locked_at is None:
                locked_at = i + 1
        else:
            locked_at = None
    assert locked_at is not None and locked_at <= 15, rs  # 6 s when written
    # The lowest id (3) leads: its tempo (10/min) and palette (1) for everyone.
    for n in nodes:
        assert n.fest.lead == 3 and n.fest.tempo == 100 and n.fest.palette == 1
        assert n.sync.mode() == BREATH
        p = n.fest.payload(40_000)
        assert p["peers"] == 2 and p["r"] > 0.95


def test_a_cocoon_with_another_key_is_not_pulled():
    ether = Ether()
    group = [Node(ether, 3), Node(ether, 5)]
    # The lowest id: if it were heard, it would lead the group's tempo.
    stranger = Node(ether, 1, sync_key="00112233445566778899aabbccddeeff", sync_period_ms=4000)
    twin = PhaseSync()  # what the stranger's oscillator does with no radio at all
    nodes = group + [stranger]
    for i, n in enumerate(nodes):
        n.fest.activate(True, 0)
        n.sync.advance(200 * i)
    twin.breathe(150, 150, 0, 32768)
    twin.advance(400)
    t = run(nodes, 0, 20_000, lambda t: twin.advance(2))
    assert stranger.sync.st == twin.st  # bit for bit: nothing it heard moved it
    assert stranger.fest.rej[festival.R_TAG] > 10 and stranger.fest.rx == 0
    for n in group:
        assert n.fest.rej[festival.R_TAG] > 10 and n.fest.payload(t)["peers"] == 1
        assert n.fest.lead == 3 and n.fest.tempo == 100  # not the stranger's 15/min
    assert order([g.sync for g in group]) > 0.95


def test_the_next_lowest_leads_when_the_leader_goes_quiet():
    ether = Ether()
    a = Node(ether, 2, sync_period_ms=5000)
    b = Node(ether, 4, sync_period_ms=6000)
    c = Node(ether, 6, sync_period_ms=7500)
    nodes = [a, b, c]
    for n in nodes:
        n.fest.activate(True, 0)
    t = run(nodes, 0, 5000)
    assert c.fest.lead == 2 and c.fest.tempo == 120
    ether.radios.remove(a.board.radio)  # the leader leaves
    t = run([b, c], t, 5000)
    assert b.fest.lead == 4 and c.fest.lead == 4 and c.fest.tempo == 100 and b.fest.tempo == 100


def test_an_authenticated_but_wild_peer_cannot_push_the_light_past_its_limits():
    # A member of the group (it has the key) sends absurd phases and frequencies every loop.
    n = Node(None, 0x0A01)
    n.fest.activate(True, 0)
    peer = peer_codec(nid=1)
    t = 0
    for i in range(500):
        n.board.radio.inbox.append(peer.encode_values(i + 1, (i & 1) << 31, 0xFFFFFFFF, FEST))
        t += TICK_MS
        n.step(t)
    # The group tempo is clamped to 30/min (0.5 Hz); the correction to phasesync's 0.25 turn/s.
    assert n.fest.tempo == festival.TEMPO_MAX
    assert n.sync.pulse_hz() <= 0.5 + 1e-6
    assert n.sync.max_step_q32() <= (250 * 10_000 << 32) // 1_000_000_000


# ------------------------------------------------------------------------------ in the app


def app_board(radio, k_mhz=100, sync="on", record=True):
    saved = {"mode": "festival", "sync_k_mhz": k_mhz, "sync": sync, "fade_ms": 0}
    b = board(n=12, record=record, store=Store(json.dumps(saved).encode()))
    b.radio = radio
    return b


def run_apps(apps, peers, t, ms):
    """Step the apps and the bare peers in lockstep from board time t for ms; -> the new t."""
    if t == 0:
        for a in apps:
            a.start(0)
    end = t + ms
    while t < end:
        t += TICK_MS
        for p in peers:
            p.step(t)
        for a in apps:
            a.board.clock.advance_ms(TICK_MS)
            a.step(t)
    return t


def test_k0_and_opt_out_are_bit_identical_to_no_radio():
    for k_mhz, sync in ((0, "on"), (100, "off")):
        ether = Ether()
        peers = [Node(ether, 1, sync_period_ms=4000), Node(ether, 9)]
        for p in peers:
            p.fest.activate(True, 0)
        alone = app.App(app_board(None))
        coupled = app.App(app_board(Radio(ether, 5), k_mhz, sync))
        run_apps([alone, coupled], peers, 0, 15_000)
        assert coupled.festival.rx > 10 if sync == "on" else coupled.festival.rx_idle > 10
        same = [i for i in range(len(alone.sync.st)) if i != S_LIVE]  # S_LIVE: a statistic
        assert [coupled.sync.st[i] for i in same] == [alone.sync.st[i] for i in same]
        assert coupled.board.strip.record == alone.board.strip.record
        assert len(alone.board.strip.record) > 700
    # Not vacuous: with K the same packets change the light.
    ether = Ether()
    peers = [Node(ether, 1, sync_period_ms=4000)]
    peers[0].fest.activate(True, 0)
    alone = app.App(app_board(None))
    coupled = app.App(app_board(Radio(ether, 5), 100))
    run_apps([alone, coupled], peers, 0, 15_000)
    assert coupled.sync.st != alone.sync.st
    assert coupled.board.strip.record != alone.board.strip.record


def test_state_frames_carry_the_radio_and_hello_hides_the_key():
    ether = Ether()
    peer = Node(ether, 1)
    peer.fest.activate(True, 0)
    a = app.App(app_board(Radio(ether, 5)))
    run_apps([a], [peer], 0, 5500)
    fs = frames(a.board)
    hello = of_type(fs, proto.HELLO)[0].payload
    key = hello["config"]["sync_key"]
    assert key.startswith("sha256:") and len(key) == 15 and config.DEMO_SYNC_KEY not in str(hello)
    radio = of_type(fs, proto.STATE)[-1].payload["radio"]
    assert radio["on"] and radio["festival"] and radio["id"] == 5 and radio["group"] == 1
    assert radio["demo_key"] is True and radio["k_mhz"] == 100
    assert radio["peers"] == 1 and radio["lead"] == 1 and radio["tempo"] == 10.0
    assert radio["tx"] >= 5 and radio["rx"] >= 5 and radio["rej"]["tag"] == 0
    assert 0.0 <= radio["r"] <= 1.0 and 0 <= radio["phase_q16"] < 65536
    assert radio["boots"] == 1
    no_radio = app.App(board())
    no_radio.run(until_ms=1500)
    assert of_type(frames(no_radio.board), proto.STATE)[-1].payload["radio"] is None


def test_leaving_festival_mode_lets_go_of_the_group():
    ether = Ether()
    peer = Node(ether, 1)
    peer.fest.activate(True, 0)
    a = app.App(app_board(Radio(ether, 5)))
    t = run_apps([a], [peer], 0, 3000)
    assert a.festival.active and a.sync.live_peers() == 1 and a.sync.mode() == BREATH
    a.board.serial.inbox = proto.command(1, "set", mode="pulse")
    t = run_apps([a], [peer], t, 3000)
    assert not a.festival.active and a.sync.live_peers() == 0 and a.sync.mode() == HEART
    tx, rx = a.festival.tx, a.festival.rx
    run_apps([a], [peer], t, 3000)
    assert a.festival.tx == tx and a.festival.rx == rx and a.festival.rx_idle >= 3


def test_a_new_key_by_command_takes_effect_at_once_and_is_saved():
    ether = Ether()
    peer = Node(ether, 1)
    peer.fest.activate(True, 0)
    a = app.App(app_board(Radio(ether, 5)))
    t = run_apps([a], [peer], 0, 3000)
    assert a.festival.payload(t)["peers"] == 1
    key = "0f" * 16
    a.board.serial.inbox = proto.command(7, "config", set={"sync_key": key}, save=True)
    t = run_apps([a], [peer], t, 4000)
    acks = [f.payload for f in of_type(frames(a.board), proto.EVENT) if f.payload["cmd"] == 7]
    assert acks and acks[0]["ok"], acks
    p = a.festival.payload(t)
    assert p["peers"] == 0 and p["rej"]["tag"] >= 4 and not p["demo_key"]
    assert a.sync.live_peers() == 0
    stored = json.loads(a.board.store.data)
    assert stored["sync_key"] == key and stored["sync_boots"] == a.festival.boots == 1


def test_config_checks_the_group_key():
    cfg = config.defaults()
    assert config.update(cfg, {"sync_key": "0011"}) != []  # 2 bytes: too short
    assert config.update(cfg, {"sync_key": "zz" * 16}) != []
    assert config.update(cfg, {"sync_key": "abc"}) != []  # odd
    assert config.update(cfg, {"sync_key": "ab" * 33}) != []  # 33 bytes: too long
    why = config.update(cfg, {"sync_key": "ab" * 8})
    assert why == [] and cfg["sync_key"] == "abababababababab"
    problems = config.update(cfg, {"sync_key": "secret!"})
    assert "secret" not in problems[0]  # a wrong key is not echoed into telemetry
    e = raises(ValueError, syncpkt.SyncCodec, 1, b"short", 1, 10_000)
    assert "8 bytes" in str(e)


# ------------------------------------------------------------------------------ allocation


def test_steady_state_allocates_nothing():
    ether = Ether()
    n = Node(ether, 5)
    peer = Node(ether, 1)
    for x in (n, peer):
        x.fest.activate(True, 0)
    t = run([n, peer], 0, 3000)
    assert n.sync.live_peers() == 1
    locked = 0
    for _ in range(3):
        # From just after a packet went out until just before the next is due: nothing arrives,
        # nothing is sent, the once-a-second expiry check runs.
        tx = n.fest.tx
        while n.fest.tx == tx:  # until a packet has just gone out
            t = run([n], t, TICK_MS)
        assert n.board.radio.inbox == []
        micropython.heap_lock()
        try:
            while n.board.clock.ticks_diff(n.fest._next_tx_ms, t) > TICK_MS:
                t += TICK_MS
                n.step(t)
                locked += 1
        finally:
            micropython.heap_unlock()
    assert locked >= 3 * 24  # 3 x (525 ms or more, the shortest jittered period)


def test_app_step_in_festival_mode_allocates_nothing_between_packets():
    ether = Ether()
    peer = Node(ether, 1)
    peer.fest.activate(True, 0)
    a = app.App(app_board(Radio(ether, 5), record=False))
    t = run_apps([a], [peer], 0, 2000)
    tx = a.festival.tx
    while a.festival.tx == tx:  # until a packet has just gone out
        t = run_apps([a], [peer], t, TICK_MS)
    assert a.board.radio.inbox == []
    a._next_state_ms = t + 100_000  # no telemetry frame inside the locked stretch
    n = 0
    micropython.heap_lock()
    try:
        while a.clock.ticks_diff(a.festival._next_tx_ms, t) > TICK_MS:
            t += TICK_MS
            a.board.clock.advance_ms(TICK_MS)
            a.step(t)
            n += 1
    finally:
        micropython.heap_unlock()
    assert n >= 20 and a.festival.active and a.sync.live_peers() == 1
