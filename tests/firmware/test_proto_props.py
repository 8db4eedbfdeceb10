# Properties of the telemetry parser (CPython, hypothesis): random bytes mixed with valid and
# damaged frames, cut into random chunks. Every intact frame comes out in order, every damaged one
# is counted, nothing raises.
from cocoon import proto
from hypothesis import given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
payloads = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
frame_types = st.sampled_from(["HELLO", "STATE", "EVENT", "ERR", "EPOCH", "X9"])
# Noise between frames: any bytes without the marker (a newline ends it, so the frame that follows
# starts on a line of its own or after text on the same line).
noise = st.binary(max_size=40).filter(lambda b: b"@CC " not in b)

# Damage that a CRC-16 always detects: one flipped bit anywhere, or the tail of the line cut off.
damage = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("cut"), st.integers(1, 10_000), st.just(0)),
)


def damaged_copy(line, how):
    kind, pos, bit = how
    body = line[:-2]  # without CRLF
    if kind == "flip":
        i = pos % len(body)
        b = bytearray(body)
        b[i] ^= 1 << bit
        # A flipped bit may create a newline (splitting the line) or a second marker; both still
        # leave no intact frame, which is all this property needs.
        return bytes(b) + b"\r\n"
    return body[: pos % len(body)] + b"\r\n"


@st.composite
def streams(draw):
    items = draw(
        st.lists(
            st.tuples(frame_types, payloads, noise, st.one_of(st.none(), damage)),
            max_size=12,
        )
    )
    data, expected, damaged = b"", [], 0
    for i, (ftype, payload, junk, how) in enumerate(items):
        line = proto.encode(ftype, i, 1000 * i, payload)
        data += junk + b"\n"
        if how is None:
            data += line
            expected.append((ftype, i, payload))
        else:
            bad = damaged_copy(line, how)
            data += bad
            # Every marker left in a damaged line is one damaged candidate (a payload string may
            # hold a marker of its own; a flipped bit can make or break one).
            damaged += bad.count(b"@CC ")
    cuts = draw(st.lists(st.integers(0, max(len(data), 1)), max_size=10))
    return data, expected, damaged, sorted(cuts)


@settings(max_examples=300, deadline=None)
@given(streams())
def test_every_intact_frame_comes_out_and_damage_is_counted(stream):
    data, expected, damaged, cuts = stream
    parser = proto.Parser()
    got = []
    last = 0
    for cut in cuts + [len(data)]:
        got += parser.feed(data[last:cut])
        last = cut
    assert [(f.type, f.seq, f.payload) for f in got] == expected
    assert parser.damaged == damaged


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300) | st.sampled_from([b"@CC ", b"\n", b" *"]), max_size=30))
def test_random_bytes_never_raise_and_yield_no_frame(chunks):
    parser = proto.Parser(max_line=256)
    for chunk in chunks:
        assert parser.feed(chunk) == []
    assert parser.frames == 0
    # Buffered text stays bounded whatever arrives.
    assert len(parser._buf) <= 256
