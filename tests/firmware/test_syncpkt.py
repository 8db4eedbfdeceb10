# Radio sync packets (cocoon/syncpkt.py): HMAC against RFC 4231, round trips, and every way a
# packet is refused. Runs on CPython and on the MicroPython unix port.
from cocoon import syncpkt
from cocoon.core.phasesync import PhaseSync
from mpt import raises

KEY = b"group key for tests"


def unhex(s):
    return bytes(int(s[i : i + 2], 16) for i in range(0, len(s), 2))


def hexs(b):
    return "".join(f"{x:02x}" for x in b)


def test_hmac_matches_rfc4231_vectors():
    # RFC 4231 section 4.2 (test case 1), 4.3 (case 2), 4.7 (case 6: a key longer than a block).
    mac = syncpkt.HMACSHA256(b"\x0b" * 20)
    assert hexs(mac.digest(b"Hi There")) == (
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    )
    mac = syncpkt.HMACSHA256(b"Jefe")
    assert hexs(mac.digest(b"what do ya want for nothing?")) == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    mac = syncpkt.HMACSHA256(b"\xaa" * 131)
    msg = b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert hexs(mac.digest(msg)) == (
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )


def pair(tick_a=10_000, tick_b=10_000):
    return (
        syncpkt.SyncCodec(7, KEY, 0x0A01, tick_a),
        syncpkt.SyncCodec(7, KEY, 0x0B02, tick_b),
    )


def peer_values(codec):
    v = codec.peer
    phase = v[0] | v[1] << 8 | v[2] << 16 | v[3] << 24
    freq = v[4] | v[5] << 8 | v[6] << 16 | v[7] << 24
    return phase, freq


def test_round_trip_carries_phase_and_frequency():
    a, b = pair()
    pkt = a.encode_values(1, 0xDEADBEEF, 10737418, syncpkt.FLAG_LOCKED)
    assert len(pkt) == syncpkt.LENGTH
    assert b.decode(pkt) == 0
    phase, freq = peer_values(b)
    assert phase == 0xDEADBEEF
    # 10737418 / 2**32 turns per 10 ms tick = 0.25 Hz; micro-hertz rounding costs < 1e-5.
    assert abs(freq - 10737418) <= 50
    assert b.flags == syncpkt.FLAG_LOCKED


def test_frequency_is_converted_to_the_receivers_tick():
    a, b = pair(10_000, 5_000)
    b.decode(a.encode_values(1, 0, 10737418))  # 0.25 Hz
    assert abs(peer_values(b)[1] - 10737418 // 2) <= 50


def test_encode_reads_the_loop_itself():
    a, b = pair()
    sync = PhaseSync()
    sync.advance(123)
    assert b.decode(a.encode(sync, 5)) == 0
    phase, freq = peer_values(b)
    assert phase == (sync.st[0] & 0xFFFFFFFF)
    assert abs(freq - sync.freq_q32()) <= 50
    slot = 0
    sync2 = PhaseSync()
    sync2.set_peer(slot, b.peer, 0, 0)
    assert sync2.peers[3] == 1


def test_refuses_altered_wrong_key_other_group_and_garbage():
    a, b = pair()
    pkt = a.encode_values(1, 1234, 5678)
    for i in (0, 3, 9, 14, 30, 39):
        bad = bytearray(pkt)
        bad[i] ^= 0x01
        assert b.decode(bad) < 0, i
    other_key = syncpkt.SyncCodec(7, b"another key!", 0x0C03, 10_000)
    assert b.decode(other_key.encode_values(1, 1, 1)) == syncpkt.BAD_TAG
    assert "tag" in b.reason
    other_group = syncpkt.SyncCodec(8, KEY, 0x0C03, 10_000)
    assert b.decode(other_group.encode_values(1, 1, 1)) == syncpkt.OTHER_GROUP
    assert b.decode(b"") == syncpkt.BAD_FORMAT
    assert b.decode(pkt[:-1]) == syncpkt.BAD_FORMAT
    assert b.decode(pkt + b"\x00") == syncpkt.BAD_FORMAT
    assert b.decode(pkt) == 0  # the genuine one still passes after all that


def test_replayed_or_old_counters_are_refused():
    a, b = pair()
    p5 = a.encode_values(5, 1, 1)
    assert b.decode(p5) == 0
    assert b.decode(p5) == syncpkt.REPLAY
    assert "replay" in b.reason
    assert b.decode(a.encode_values(4, 1, 1)) == syncpkt.REPLAY
    assert b.decode(a.encode_values(6, 1, 1)) == 0
    assert b.decode(b.encode_values(1, 1, 1)) == syncpkt.OWN


def test_senders_get_slots_and_the_quietest_is_replaced():
    b = syncpkt.SyncCodec(7, KEY, 1, 10_000)
    senders = [syncpkt.SyncCodec(7, KEY, 100 + i, 10_000) for i in range(9)]
    for i in range(8):
        assert b.decode(senders[i].encode_values(1, i, 1)) == i
    assert b.decode(senders[3].encode_values(2, 3, 1)) == 3  # same sender, same slot
    # A ninth sender takes the slot heard from longest ago: sender 0's.
    assert b.decode(senders[8].encode_values(1, 8, 1)) == 0
    b.forget(0)
    assert b.decode(senders[0].encode_values(1, 0, 1)) == 0


def test_bad_settings_are_refused():
    raises(ValueError, syncpkt.SyncCodec, 7, b"short", 1, 10_000)
    raises(ValueError, syncpkt.SyncCodec, 70000, KEY, 1, 10_000)
    raises(ValueError, syncpkt.SyncCodec, 7, KEY, 1, 10)
