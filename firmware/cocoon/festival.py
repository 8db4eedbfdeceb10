"""Festival sync: the radio part of the app, so that the cocoons of a group pulse together.

    fest = Festival(board, cfg, sync, light, app.error)     # the app owns one
    fest.activate(True, now_ms); fest.step(now_ms)          # festival mode on; every loop

In festival mode the light pulses on the group's phase, not on the sleeper's heart: the pulse
oscillator (core/phasesync.py) runs in its paced mode at the group's tempo, heartbeats are ignored,
and the radio does the rest:
  send      every sync_tx_ms (jittered +-25% so that neighbours do not collide for long), one
            authenticated sync packet (cocoon/syncpkt.py): our phase, frequency, palette
  receive   every loop, at most MAX_RX_PER_STEP packets (a flood cannot stall the light); each one
            is checked (length, group, HMAC tag, counter above the last one from that sender) and
            dropped with a counted reason, or handed to PhaseSync.set_peer as "just sent"
  couple    phasesync's Kuramoto term pulls our phase toward the live peers' (K = sync_k_mhz)
  follow    tempo and palette are the group's: those of its lowest-numbered member heard within
            the peer timeout (our own when we are the lowest), so that cocoons configured
            differently still agree; with the phase coupling this converges to one pulse
  expire    a peer silent for 4 packet periods stops pulling (phasesync drops it); after
            FORGET_MS its replay counter is forgotten so that a sender that lost its own counter
            is heard again (the price: a replay window for senders silent that long)
A cocoon with K = 0 still sends (others may follow it) but nothing it hears changes its light:
bit-identical to having no radio. `sync` = "off" opts out: it neither sends nor listens. Outside
festival mode the radio is drained and ignored (a sleeper's own heartbeat is nobody else's).

Counters: sender counters are (boots << 20) | packets (syncpkt's notes). `boots` lives in the
config store (key sync_boots) and is raised, and saved, before the first packet of each boot and
after 2**20 packets (8.5 days at 0.7 s), so a reboot never sends an old counter again. It has
12 bits: after 4096 boots it wraps, and cocoons that remember this one ignore it for FORGET_MS.
More than 8 senders share phasesync's 8 peer slots (the one heard longest ago gives way, and
its replay counter with it): the coupling then averages over the 8 most recent.

Allocation: with nothing received and no packet due, step() allocates nothing (heap_lock test).
A received packet allocates in syncpkt.decode (hashing, the tag, the unpacked header: 1.3 KB on
the 64-bit unix port, `make bench festival`), a sent one in encode (0.9 KB); a few per second,
collected at the app's once-a-second gc point. activate(), configure() and a change of the
group's tempo or palette allocate too (rare).
"""

import json

from micropython import const

from cocoon import syncpkt
from cocoon.config import DEMO_SYNC_KEY
from cocoon.core.phasesync import (
    C_K,
    C_PEER_TO,
    MAX_PEERS,
    P_LIVE,
    P_PHASE,
    PEER_STRIDE,
    make_config,
)
from cocoon.core.trig import cos_q15, sin_q15

MAX_RX_PER_STEP = const(4)  # packets read per loop at most; more wait for the next loop
FORGET_MS = const(60000)  # a sender's replay counter is kept this long after its last packet
CHECK_MS = const(1000)  # how often silent peers and a lost leader are looked for
COUNTER_SHIFT = const(20)  # counter = boots << 20 | packets (syncpkt.py)
BOOTS_MOD = const(4096)  # 12 bits of boots: the counter stays within 32 bits
PACKETS_MAX = const(0xFFFFF)
# Tempo limits, pulses per minute x 10: phasesync.breathe()'s 2..30 per minute, far below the
# 3 flashes per second of WCAG 2.3.1 whatever a peer sends.
TEMPO_MIN = const(20)
TEMPO_MAX = const(300)
SYMMETRIC_Q16 = const(32768)  # the festival pulse rises and falls alike (phasesync shaped_q16)

# Reasons a packet is dropped, in STATE order (radio.rej).
REASONS = ("format", "group", "tag", "replay", "own", "mode")
R_FORMAT = const(0)
R_GROUP = const(1)
R_TAG = const(2)
R_REPLAY = const(3)
R_OWN = const(4)
R_MODE = const(5)  # a valid packet from a cocoon that is not in festival mode


def node_id(board):
    """Our sender id: the low 16 bits of the radio's MAC (ESP32: machine.unique_id() is it)."""
    mac = getattr(board.radio, "mac", None)
    if not mac:
        info = getattr(board, "info", None) or {}
        uid = info.get("uid") or info.get("id")
        try:
            mac = bytes.fromhex(uid)
        except (TypeError, ValueError):
            mac = None
    if mac and len(mac) >= 2:
        return (mac[-2] << 8) | mac[-1]
    return 1


def tempo_per_min10(period_ms):
    """The festival pulse as pulses per minute x 10, rounded, within TEMPO_MIN..TEMPO_MAX."""
    t = (600000 + period_ms // 2) // period_ms
    return TEMPO_MIN if t < TEMPO_MIN else TEMPO_MAX if t > TEMPO_MAX else t


def save_boots(store, boots):
    """Write sync_boots into the stored config, keeping every other key as stored (defaults are
    not written out). None when saved, else why not."""
    if store is None:
        return "this board has no config store"
    try:
        raw = store.read()
        data = json.loads(bytes(raw).decode()) if raw else {}
    except Exception as e:
        return "cannot read the stored config (%r)" % (e,)
    if not isinstance(data, dict):
        return "the stored config is not a JSON object"
    data["sync_boots"] = boots
    try:
        store.write(json.dumps(data).encode())
    except Exception as e:
        return "cannot write the config store (%r)" % (e,)
    return None


def key_id(key_hex):
    """A short fingerprint of a group key, to compare keys without showing them."""
    import hashlib

    return "".join("%02x" % b for b in hashlib.sha256(bytes.fromhex(key_hex)).digest()[:4])


class Festival:
    """The app's radio: sync packets out and in, peers to the pulse oscillator (module doc)."""

    def __init__(self, board, cfg, sync, light=None, on_error=None):
        self.radio = board.radio
        self.store = board.store
        self.clock = board.clock
        self.sync = sync
        self.light = light
        self._on_error = on_error
        self.node_id = node_id(board)
        self.active = False  # the light is in festival mode (with or without a radio)
        self.on = False  # sync allowed: a radio and sync = "on"
        self.codec = None
        self._group_key = None
        self._buf = bytearray(64)  # longer than a sync packet: an oversized one shows as such
        self._pkt = memoryview(self._buf)[: syncpkt.LENGTH]
        self.tx = 0
        self.tx_err = 0
        self.rx = 0
        self.rx_idle = 0  # packets drained while not in festival mode
        self.rej = [0] * len(REASONS)
        self._heard_ms = [0] * MAX_PEERS  # when each codec slot last gave a valid packet
        self._seen = bytearray(MAX_PEERS)  # 1: the slot holds a sender (its counter is kept)
        self.boots = -1  # this boot's radio epoch, -1 until the first packet is sent
        self._packets = 0
        self._next_tx_ms = 0
        self._next_check_ms = 0
        self._rng = (self.node_id * 7919 + 1) & 0xFFFF or 1  # xorshift16 state for the jitter
        self.lead = self.node_id  # the group's lowest-numbered member heard (or us)
        self._lead_ms = 0
        self._lead_tempo = 0
        self._lead_palette = 0
        self.tempo = -1  # applied tempo (pulses/min x 10) and palette, -1: none yet
        self.palette = -1
        self._told = 0  # bit 0: send failure reported, bit 1: our id in use elsewhere
        self.configure(cfg)

    # ---------------------------------------------------------------- configuration

    def configure(self, cfg):
        """Take (validated) settings: group, key, K, periods, opt-out, own tempo and palette."""
        self.cfg = cfg
        self.on = self.radio is not None and cfg["sync"] == "on"
        group_key = (cfg["sync_group"], cfg["sync_key"])
        if group_key != self._group_key:
            # A new group or key: a new codec (fresh replay counters, slots and leader).
            self._group_key = group_key
            self.codec = syncpkt.SyncCodec(
                group_key[0], bytes.fromhex(group_key[1]), self.node_id, self.sync.tick_us
            )
            self._drop_peers()
            for i in range(MAX_PEERS):
                self._seen[i] = 0
            self.lead = self.node_id
        self.k_mhz = cfg["sync_k_mhz"]
        self.tx_ms = cfg["sync_tx_ms"]
        # Four packet periods: with 20% loss, four in a row are lost 0.16% of the time.
        self.timeout_ms = 4 * self.tx_ms + 200
        c = make_config(
            tick_us=self.sync.tick_us, coupling_mhz=self.k_mhz, peer_timeout_ms=self.timeout_ms
        )
        self.sync.cfg[C_K] = c[C_K]
        self.sync.cfg[C_PEER_TO] = c[C_PEER_TO]
        self.own_tempo = tempo_per_min10(cfg["sync_period_ms"])
        self.own_palette = cfg["festival"]
        if self.boots >= 0:
            cfg["sync_boots"] = self.boots  # a later `config save` must not lower it
        if not self.on or self.k_mhz == 0:
            self.lead = self.node_id
        if not self.on:
            self._drop_peers()
        self.palette = -1  # the light was just reconfigured with the user's palette
        if self.active:
            self._follow_group()

    def demo_key(self):
        return self.cfg["sync_key"] == DEMO_SYNC_KEY

    # ---------------------------------------------------------------- mode

    def activate(self, on, now_ms):
        """The light entered (True) or left (False) festival mode."""
        if on == self.active:
            return
        self.active = on
        if on:
            self.tempo = self.palette = -1
            self.lead = self.node_id
            self._follow_group()
            # First packet soon (within a quarter period): a newcomer is heard at once.
            soon_ms = (self.tx_ms * (self._jitter() & 255)) >> 10
            self._next_tx_ms = self.clock.ticks_add(now_ms, soon_ms)
            self._next_check_ms = now_ms
            for i in range(MAX_PEERS):
                self._heard_ms[i] = now_ms
        else:
            self._drop_peers()
            self.sync.follow_heart()
            self.tempo = self.palette = -1

    def _drop_peers(self):
        for i in range(MAX_PEERS):
            self.sync.drop_peer(i)

    def _follow_group(self):
        if self.lead == self.node_id:
            self._apply(self.own_tempo, self.own_palette)
        else:
            self._apply(self._lead_tempo, self._lead_palette)

    def _apply(self, tempo, palette):
        if tempo != self.tempo:
            self.tempo = tempo
            # The paced mode at a constant rate (no ramp): beats are ignored, the phase goes on.
            self.sync.breathe(tempo, tempo, 0, SYMMETRIC_Q16)
        if palette != self.palette:
            self.palette = palette
            light = self.light
            if light is not None and light.cfg.get("festival") != palette:
                c = dict(light.cfg)
                c["festival"] = palette
                light.configure(c)

    # ---------------------------------------------------------------- every loop

    def step(self, now_ms):
        """Receive what arrived, send when due, expire silent peers. No allocation when idle."""
        radio = self.radio
        if radio is None:
            return
        live = self.active and self.on
        k = 0
        while k < MAX_RX_PER_STEP:
            n = radio.recv_into(self._buf)
            if n <= 0:
                break
            k += 1
            if live:
                self._receive(n, now_ms)
            else:
                self.rx_idle += 1
        if not live:
            return
        # Methods are called, never kept in locals: a bound method would be an allocation.
        if self.clock.ticks_diff(now_ms, self._next_tx_ms) >= 0:
            self._send(now_ms)
        if self.clock.ticks_diff(now_ms, self._next_check_ms) >= 0:
            self._next_check_ms = self.clock.ticks_add(now_ms, CHECK_MS)
            self._expire(now_ms)

    def _receive(self, n, now_ms):
        if n != syncpkt.LENGTH:
            self.rej[R_FORMAT] += 1
            return
        codec = self.codec
        slot = codec.decode(self._pkt)
        if slot < 0:
            why = -1 - slot  # syncpkt's codes -1..-5 are REASONS 0..4
            self.rej[why if why < R_MODE else R_FORMAT] += 1
            if slot == syncpkt.OWN and not self._told & 2:
                self._told |= 2
                self._report(
                    "another cocoon in group %d sends with our radio id %d (the low 16 bits of "
                    "its MAC): the two cannot hear each other" % (codec.group_id, self.node_id)
                )
            return
        flags = codec.flags
        if not flags & syncpkt.FLAG_FESTIVAL:
            self.rej[R_MODE] += 1
            return
        self.rx += 1
        self._heard_ms[slot] = now_ms
        self._seen[slot] = 1
        # The packet was built when it was sent: a few ms ago at most (ESP-NOW airtime), less
        # than one tick. K = 0 leaves the oscillator bit-identical (phasesync's guarantee).
        self.sync.set_peer(slot, codec.peer, 0, 0)
        if self.k_mhz == 0:
            return  # a cocoon that is never pulled leads itself
        buf = self._buf
        sender = buf[6] | (buf[7] << 8)  # syncpkt layout: sender id at offset 6
        if sender <= self.lead:
            # The lowest id heard leads the group's tempo and palette (its packet refreshes it).
            self.lead = sender
            self._lead_ms = now_ms
            freq_uhz = buf[16] | (buf[17] << 8) | (buf[18] << 16) | (buf[19] << 24)
            # micro-hertz -> pulses per minute x 10: x 600 / 10**6, rounded.
            t = (freq_uhz * 6 + 5000) // 10000
            self._lead_tempo = TEMPO_MIN if t < TEMPO_MIN else TEMPO_MAX if t > TEMPO_MAX else t
            self._lead_palette = (flags >> syncpkt.PALETTE_SHIFT) & 3
            self._follow_group()

    def _send(self, now_ms):
        self._next_tx_ms = self.clock.ticks_add(
            now_ms, (self.tx_ms * (768 + (self._jitter() & 511))) >> 10
        )
        if self.boots < 0 or self._packets > PACKETS_MAX:
            self._new_epoch()
        counter = (self.boots << COUNTER_SHIFT) | self._packets
        self._packets += 1
        flags = syncpkt.FLAG_FESTIVAL | ((self.palette & 3) << syncpkt.PALETTE_SHIFT)
        try:
            self.radio.send(self.codec.encode(self.sync, counter, flags))
            self.tx += 1
        except Exception as e:  # ESP-NOW refused it (queue full, radio off): the next one may go
            self.tx_err += 1
            if not self._told & 1:
                self._told |= 1
                self._report("cannot send a sync packet (%r); counting, not repeating" % (e,))

    def _new_epoch(self):
        stored = self.cfg.get("sync_boots", 0) if self.boots < 0 else self.boots
        self.boots = (stored + 1) % BOOTS_MOD
        self._packets = 0
        self.cfg["sync_boots"] = self.boots
        why = save_boots(self.store, self.boots)
        if why is not None:
            self._report(
                "cannot keep the radio's boot counter (%s): after a reboot, cocoons that heard "
                "this one in the last minute ignore it for up to a minute" % why
            )

    def _expire(self, now_ms):
        clock = self.clock
        for i in range(MAX_PEERS):
            if self._seen[i] and clock.ticks_diff(now_ms, self._heard_ms[i]) > FORGET_MS:
                self._seen[i] = 0
                self.codec.forget(i)
        if self.lead != self.node_id and clock.ticks_diff(now_ms, self._lead_ms) > self.timeout_ms:
            self.lead = self.node_id  # the leader went quiet: ours until a lower id is heard
            self._follow_group()

    def _jitter(self):
        # xorshift16 (small ints only, no allocation): seeded by our id, so neighbours differ.
        x = self._rng
        x ^= (x << 7) & 0xFFFF
        x ^= x >> 9
        x ^= (x << 8) & 0xFFFF
        self._rng = x
        return x

    def _report(self, msg):
        if self._on_error is not None:
            self._on_error("radio", msg)

    # ---------------------------------------------------------------- reporting

    def live_peers(self, now_ms):
        n = 0
        clock = self.clock
        for i in range(MAX_PEERS):
            if self._seen[i] and clock.ticks_diff(now_ms, self._heard_ms[i]) <= self.timeout_ms:
                n += 1
        return n

    def order(self):
        """Kuramoto order parameter r over us and the live peers (as extrapolated by phasesync),
        0..1; None without peers. r = |mean of e^(i theta)|: 1 = one pulse, ~0 = scattered."""
        sync = self.sync
        own = sync.phase_q16()
        c = 32767
        s = 0
        n = 1
        peers = sync.peers
        for i in range(MAX_PEERS):
            b = i * PEER_STRIDE
            if peers[b + P_LIVE]:
                d = ((peers[b + P_PHASE] >> 16) - own) & 0xFFFF
                c += cos_q15(d)
                s += sin_q15(d)
                n += 1
        if n < 2:
            return None
        return (c * c + s * s) ** 0.5 / (32767 * n)

    def payload(self, now_ms):
        """STATE's `radio` object (allocates: once per second); None without a radio."""
        if self.radio is None:
            return None
        r = self.order() if self.active else None
        return {
            "on": self.on,
            "festival": self.active,
            "id": self.node_id,
            "group": self.cfg["sync_group"],
            "demo_key": self.demo_key(),
            "k_mhz": self.k_mhz,
            "peers": self.live_peers(now_ms) if self.active else 0,
            "lead": self.lead,
            "tempo": self.tempo / 10 if self.tempo > 0 else None,
            "palette": self.palette if self.palette >= 0 else None,
            "phase_q16": self.sync.phase_q16(),
            "r": int(r * 1000 + 0.5) / 1000 if r is not None else None,
            "tx": self.tx,
            "tx_err": self.tx_err,
            "rx": self.rx,
            "rx_idle": self.rx_idle,
            "rej": {REASONS[i]: self.rej[i] for i in range(len(REASONS))},
            "boots": self.boots,
        }
