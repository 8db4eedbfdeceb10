"""Radio sync packets: what one cocoon tells the others about its light pulse, authenticated.

ESP-NOW broadcast cannot be encrypted, so every packet carries a group id, a counter and a tag:
HMAC-SHA256 (RFC 2104) under the group's key over everything before the tag, truncated to 128 bits
(as RFC 4868 does for IPsec). A receiver drops anything else: wrong magic, version or length,
another group, a bad tag, or a counter not above the last one accepted from that sender (replay).
cocoon.proto re-exports this module: one definition of the wire format for board and host.

    codec = SyncCodec(group_id=7, key=b"festival key", node_id=0x1A2B, tick_us=10_000)
    radio.send(codec.encode(sync, counter)); slot = codec.decode(pkt)  # then sync.set_peer(...)

Layout, little-endian, 40 bytes:
    0   2  magic b"CS"
    2   1  version (1)
    3   1  flags: bit 0 locked to a sleeper, bit 1 breathing guide, bit 2 festival mode,
           bits 4-5 the festival palette (cocoon/festival.py)
    4   2  group id
    6   2  sender id (e.g. the low 16 bits of its MAC)
    8   4  counter: strictly increasing per sender. Start it from a boot counter kept in flash
           (boots << 20 | packets) so that a reboot does not send old numbers again.
    12  4  phase_q32 of the sender's pulse when the packet was built
    16  4  pulse frequency in micro-hertz (independent of anyone's tick rate)
    20  4  reserved (0)
    24  16 tag

decode() returns the peer slot (0..MAX_PEERS-1) for cocoon.core.phasesync and leaves the phase and
the frequency, converted to the receiver's tick, in `codec.peer` (8 bytes for set_peer), or returns
a negative code with the reason in `codec.reason`. It allocates a little (hashing): a few packets
per second, off the per-tick path. A freshly booted receiver accepts the first counter it sees from
each sender (there is no clock to check freshness against): a replayed old packet can at worst
show it one stale phase, which the next genuine packet overwrites.
"""

import hashlib
import struct

MAGIC = b"CS"
VERSION = 1
LENGTH = 40
TAG_LEN = 16
MAX_PEERS = 8  # as cocoon.core.phasesync.MAX_PEERS
FLAG_LOCKED = 1
FLAG_BREATH = 2
FLAG_FESTIVAL = 4
PALETTE_SHIFT = 4  # flags >> PALETTE_SHIFT & 3: the sender's festival palette

# decode() results below zero.
BAD_FORMAT = -1
OTHER_GROUP = -2
BAD_TAG = -3
REPLAY = -4
OWN = -5

_HEAD = "<2sBBHHIIII"  # magic, version, flags, group, sender, counter, phase, freq_uhz, reserved
_BLOCK = 64  # SHA-256 block size (FIPS 180-4)


def _sha256(data):
    return hashlib.sha256(data).digest()


class HMACSHA256:
    """HMAC-SHA256 (RFC 2104) with the key's pads computed once; MicroPython has no hmac module."""

    def __init__(self, key):
        if len(key) > _BLOCK:
            key = _sha256(key)
        key = bytes(key) + bytes(_BLOCK - len(key))
        self._ipad = bytes(b ^ 0x36 for b in key)
        self._opad = bytes(b ^ 0x5C for b in key)

    def digest(self, msg):
        inner = hashlib.sha256(self._ipad)
        inner.update(msg)
        outer = hashlib.sha256(self._opad)
        outer.update(inner.digest())
        return outer.digest()


def _same(a, b):
    # Constant-time comparison: the time taken does not tell an attacker how many bytes matched.
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


class SyncCodec:
    """Builds and checks sync packets for one group, and maps senders to peer slots."""

    def __init__(self, group_id, key, node_id, tick_us):
        if not 0 <= group_id <= 0xFFFF or not 0 <= node_id <= 0xFFFF:
            raise ValueError("syncpkt: group_id and node_id must be 0..65535")
        if not isinstance(key, (bytes, bytearray)) or len(key) < 8:
            raise ValueError("syncpkt: the group key must be at least 8 bytes")
        if not 1000 <= tick_us <= 20000:
            raise ValueError("syncpkt: tick_us must be 1000..20000")
        self.group_id = group_id
        self.node_id = node_id
        self.tick_us = tick_us
        self._mac = HMACSHA256(key)
        self._scratch = bytearray(8)
        self.peer = bytearray(8)  # phase_q32, freq_q32 (our tick) of the last accepted packet
        self.flags = 0  # flags of the last accepted packet
        self.reason = ""
        # Per slot: sender id (-1 free), last counter, when last heard (packets decoded).
        self._ids = [-1] * MAX_PEERS
        self._counters = [0] * MAX_PEERS
        self._heard = [0] * MAX_PEERS
        self._clock = 0

    def encode(self, sync, counter, flags=0):
        """The packet for our pulse now (sync: a cocoon.core.phasesync.PhaseSync)."""
        sync.write_sync(self._scratch, 0)
        phase_q32, freq_q32 = struct.unpack("<II", self._scratch)
        return self.encode_values(counter, phase_q32, freq_q32, flags)

    def encode_values(self, counter, phase_q32, freq_q32, flags=0):
        # turns per tick * 2**32 -> micro-hertz: f * 1e6 / tick_us / 2**32 Hz.
        freq_uhz = (freq_q32 * 1_000_000_000_000 // self.tick_us) >> 32
        head = struct.pack(
            _HEAD,
            MAGIC,
            VERSION,
            flags & 0xFF,
            self.group_id,
            self.node_id,
            counter & 0xFFFFFFFF,
            phase_q32 & 0xFFFFFFFF,
            min(freq_uhz, 0xFFFFFFFF),
            0,
        )
        return head + self._mac.digest(head)[:TAG_LEN]

    def decode(self, pkt):
        """Check a received packet. Returns its sender's slot, or a negative code (see reason)."""
        if len(pkt) != LENGTH or bytes(pkt[0:2]) != MAGIC or pkt[2] != VERSION:
            self.reason = "not a version-%d sync packet of %d bytes" % (VERSION, LENGTH)
            return BAD_FORMAT
        head = bytes(pkt[: LENGTH - TAG_LEN])
        _m, _v, flags, group, sender, counter, phase, freq_uhz, _r = struct.unpack(_HEAD, head)
        if group != self.group_id:
            self.reason = "group %d is not ours" % group
            return OTHER_GROUP
        if not _same(self._mac.digest(head)[:TAG_LEN], pkt[LENGTH - TAG_LEN :]):
            self.reason = "bad tag (wrong key or altered packet)"
            return BAD_TAG
        if sender == self.node_id:
            self.reason = "our own packet"
            return OWN
        slot = self._slot_for(sender)
        if self._ids[slot] == sender and counter <= self._counters[slot]:
            self.reason = "counter %d already seen from %d (replay)" % (counter, sender)
            return REPLAY
        self._clock += 1
        self._ids[slot] = sender
        self._counters[slot] = counter
        self._heard[slot] = self._clock
        freq_q32 = (freq_uhz * self.tick_us << 32) // 1_000_000_000_000
        struct.pack_into("<II", self.peer, 0, phase, min(freq_q32, 0x7FFFFFFF))
        self.flags = flags
        self.reason = ""
        return slot

    def _slot_for(self, sender):
        # The sender's slot; else a free one; else the one heard from longest ago.
        for i in range(MAX_PEERS):
            if self._ids[i] == sender:
                return i
        oldest = 0
        for i in range(MAX_PEERS):
            if self._ids[i] < 0:
                return i
            if self._heard[i] < self._heard[oldest]:
                oldest = i
        return oldest

    def forget(self, slot):
        """Free a slot (its sender went quiet): its counter no longer blocks a rebooted sender."""
        self._ids[slot] = -1
        self._counters[slot] = 0
