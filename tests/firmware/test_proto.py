# Telemetry v1 (cocoon/proto.py) on both interpreters: encoding, the CRC, the incremental parser.
from cocoon import proto


def test_crc16_ccitt_false_check_value():
    # The catalogue check value of CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740).
    assert proto.crc16(b"123456789") == 0x29B1
    assert proto.crc16(b"") == 0xFFFF


def test_encode_is_one_readable_line():
    line = proto.encode(proto.STATE, 7, 12345, {"up_s": 12})
    assert line.startswith(b"@CC 1 STATE 7 12345 {")
    assert line.endswith(b"\r\n")
    assert line.count(b"\n") == 1
    assert b'"up_s": 12' in line


def test_round_trip():
    payload = {"fw": "0.1.0", "leds": 60, "rgb": ["ff7800", "000000"], "ok": True, "x": None}
    frames = proto.Parser().feed(proto.encode(proto.HELLO, 0, 5, payload))
    assert len(frames) == 1
    f = frames[0]
    assert (f.version, f.type, f.seq, f.uptime_ms) == (1, "HELLO", 0, 5)
    assert f.payload == payload


def test_newlines_inside_strings_stay_escaped():
    line = proto.encode(proto.ERR, 1, 2, {"msg": "two\nlines\r\nhere"})
    assert line.count(b"\n") == 1
    f = proto.Parser().feed(line)[0]
    assert f.payload["msg"] == "two\nlines\r\nhere"


def test_text_between_frames_is_skipped_and_kept_for_display():
    p = proto.Parser()
    data = (
        b"MPY: soft reboot\r\n"
        + proto.encode(proto.HELLO, 0, 1, {"a": 1})
        + b">>> print(1)\r\n1\r\n>>> "
        + proto.encode(proto.STATE, 1, 1001, {"b": 2})
    )
    frames = p.feed(data)
    assert [f.type for f in frames] == ["HELLO", "STATE"]
    assert p.damaged == 0
    assert p.skipped_lines == 3
    assert "1" in p.text


def test_frames_split_across_chunks_of_any_size():
    data = b"".join(proto.encode(proto.STATE, i, 1000 * i, {"i": i}) for i in range(5))
    for size in (1, 2, 7, 64):
        p = proto.Parser()
        frames = []
        for i in range(0, len(data), size):
            frames += p.feed(data[i : i + size])
        assert [f.payload["i"] for f in frames] == [0, 1, 2, 3, 4], size
        assert p.damaged == 0 and p.lost == 0


def test_damaged_frames_are_counted_not_returned():
    good = proto.encode(proto.STATE, 3, 3000, {"x": 1})
    bad = bytearray(good)
    bad[20] ^= 0x01  # one flipped bit: the CRC catches it
    truncated = good[:30] + b"\r\n"
    p = proto.Parser()
    frames = p.feed(bytes(bad) + truncated + good)
    assert len(frames) == 1 and frames[0].seq == 3
    assert p.damaged == 2


def test_unknown_types_and_keys_pass_through():
    f = proto.Parser().feed(proto.encode("FUTURE", 0, 1, {"new_key": [1, 2]}))[0]
    assert f.type == "FUTURE" and f.payload == {"new_key": [1, 2]}


def test_lost_frames_and_reboots_are_counted():
    p = proto.Parser()
    p.feed(proto.encode(proto.STATE, 10, 10000, {}))
    p.feed(proto.encode(proto.STATE, 13, 13000, {}))  # 11 and 12 missing
    assert p.lost == 2
    p.feed(proto.encode(proto.HELLO, 0, 20, {}))  # the board restarted
    assert p.reboots == 1 and p.lost == 2


def test_seq_wraps_without_counting_loss():
    p = proto.Parser()
    p.feed(proto.encode(proto.STATE, 65535, 1000, {}))
    p.feed(proto.encode(proto.STATE, 65536, 2000, {}))  # encodes as 0
    assert p.lost == 0 and p.frames == 2


def test_overlong_garbage_is_dropped():
    p = proto.Parser(max_line=100)
    assert p.feed(b"@CC " + b"x" * 200) == []
    assert p.damaged == 1
    frames = p.feed(b"\n" + proto.encode(proto.STATE, 0, 0, {}))
    assert len(frames) == 1


def test_payload_must_be_an_object():
    head = b"@CC 1 STATE 0 0 [1, 2]"
    line = head + f" *{proto.crc16(head):04X}".encode()
    p = proto.Parser()
    assert p.feed(line + b"\n") == []
    assert p.damaged == 1


def test_non_utf8_bytes_never_raise():
    p = proto.Parser()
    assert p.feed(b"\xff\xfe@CC \xff\xff *0000\n\x00\x01\n") == []
    assert p.damaged == 1


def test_command_round_trip():
    line = proto.command(4, "set", mode="off", bri=10)
    f = proto.Parser().feed(line)[0]
    assert f.type == proto.CMD and f.seq == 4
    assert f.payload == {"op": "set", "mode": "off", "bri": 10}
