"""The wire format: telemetry frames (board -> host) and commands (host -> board), telemetry v1.

One definition for both sides: the firmware imports it on the board, the host imports the very same
file on CPython (the `cocoon` package maps to firmware/cocoon).

    line = proto.encode(proto.STATE, seq, uptime_ms, {"up_s": 12})   # board: bytes, ends in CRLF
    frames = proto.Parser().feed(chunk)                               # host: list of Frame

Grammar (one frame per text line; a person reading a plain serial terminal can follow it):

    @CC <version> <TYPE> <seq> <uptime_ms> <JSON object> *<CRC>\r\n

    version    protocol version, decimal ("1"). The line grammar never changes between versions;
               a new version means payload meanings changed. Readers ignore keys they do not know.
    TYPE       upper-case word: HELLO, STATE, EPOCH, EVENT, ERR (board); CMD (host). Readers pass
               on types they do not know.
    seq        0..65535, +1 per frame sent by this side since its boot, wraps. Gaps = lost frames.
    uptime_ms  milliseconds since the board booted (0 in host commands).
    JSON       one JSON object (json.dumps: no raw newline can occur in it).
    CRC        CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, check value 0x29B1
               for "123456789"), 4 upper-case hex digits, over every byte from "@" up to and
               excluding the space before "*". It catches every burst error up to 16 bits.

Anything else on the line (REPL output, log text, a prompt in front of the marker) is skipped.

Payloads (keys the board sends today; more may appear, none will change meaning within v1):
    HELLO  fw (version), build (build id), port ("esp32", "sim"), leds (count), proto (1),
           config (summary; sync_key shown only as "sha256:" + 8 hex digits of its hash),
           safe (null or why the board is in safe mode), boots
    STATE  up_s, loop {mean_us, max_us, hz}, heap {free, used} (null where unknown),
           led {mode, bri, rgb: [sampled colours "rrggbb"], stage, ma (estimated current),
           cur_limited, flash_limited (frames changed by the limiters since boot)},
           sensors {name: "ok"|"missing"}, errs,
           sleep {stage, epochs, night_s, alarm (null or {state, in_s, window_min, sunrise_pct})},
           radio (null without a radio; cocoon/festival.py) {on (sync allowed), festival (in
           festival mode), id (our sender id), group, demo_key (the public default key), k_mhz,
           peers (heard within the peer timeout), lead (id whose tempo and palette the group
           follows), tempo (pulses/min), palette, phase_q16 (our pulse at this frame), r (Kuramoto
           order parameter over us and our peers, 0..1; null without peers), tx, tx_err, rx
           (valid packets), rx_idle (drained outside festival mode), rej {format, group, tag,
           replay, own, mode: packets dropped by reason}, boots (radio epoch; -1 before the
           first packet)}
    EPOCH  one per 30-s epoch, published once the look-ahead of its features has arrived
           (delay_s after the epoch ends, ~7 min; core/epoch.py): n (epoch since lights-out),
           t_s (its start), delay_s, stage ("wake"|"light"|"deep"|"rem"), valid (enough heart
           rate), p [% wake, light, deep, rem], wake_lo (wake log-odds), count and hr_feat
           (Walch's features), hr (mean bpm or null), hr_rel (bpm against the night's mean), cov
           (% of the HR window with a reading), scale (the running HR scale)
    EVENT  ev (name), then fields; a command is acknowledged by ev "ack" with cmd (its seq), ok,
           and error (why, when ok is false). Smart wake: "wake_window" (alarm_in_s), "wake"
           (reason "light"|"wake"|"alarm", stage, epoch_t_s, full_in_s, before_alarm_s),
           "wake_full" (the sunrise is at full light)
    ERR    code (short word), msg (one readable sentence)
Commands (type CMD), payload {"op": ...}:
    ping                          just an ack
    hello                         ack, then a HELLO frame
    set    mode, bri, ...         change the light now (not saved): app.LIGHT_KEYS, e.g.
                                  mode pulse|breathe|sunrise|nightlight|off|festival
    config set {key: value}, save (bool)   validate, apply, and persist when save is true
    alarm  in_min (or in_s), window_min (30)   smart wake: sunrise timed to light sleep in the
                                  window, full light at the alarm at the latest; clear: true
    night                         lights-out now: the epoch features and stages start afresh
Radio sync packets (ESP-NOW, cocoon to cocoon): defined in cocoon/syncpkt.py, re-exported here as
proto.syncpkt (group id, counter, truncated HMAC-SHA256 tag; SyncCodec encodes and checks them).
Festival mode sets flags bit 2 and the palette in bits 4-5 (cocoon/festival.py sends, takes them).
"""

import json
from array import array

from cocoon import syncpkt  # noqa: F401  (re-exported: the radio part of the wire format)

# No micropython.const here: the host imports this file on CPython, where that module is absent.
VERSION = 1
MARKER = "@CC"
_MARKER_B = b"@CC "

HELLO = "HELLO"
STATE = "STATE"
EPOCH = "EPOCH"
EVENT = "EVENT"
ERR = "ERR"
CMD = "CMD"

SEQ_MOD = 65536
# A line longer than this without a newline is garbage (or a cut cable): drop it, count it.
MAX_LINE = 4096


def _crc_table():
    table = array("H", bytes(512))
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table[i] = crc & 0xFFFF
    return table


_CRC_TABLE = _crc_table()


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of bytes (or a bytearray/memoryview slice)."""
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ b) & 0xFF]
    return crc


def encode(ftype, seq, uptime_ms, payload):
    """One frame as bytes ending in CRLF. payload: a dict (or a JSON object text)."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    head = "%s %d %s %d %d %s" % (MARKER, VERSION, ftype, seq % SEQ_MOD, uptime_ms, body)
    data = head.encode()
    return data + (" *%04X\r\n" % crc16(data)).encode()


def command(seq, op, **fields):
    """A host -> board command line (bytes)."""
    fields["op"] = op
    return encode(CMD, seq, 0, fields)


class Frame:
    """One decoded frame. payload is the decoded JSON object (a dict)."""

    def __init__(self, version, ftype, seq, uptime_ms, payload):
        self.version = version
        self.type = ftype
        self.seq = seq
        self.uptime_ms = uptime_ms
        self.payload = payload

    def to_dict(self):
        return {
            "v": self.version,
            "type": self.type,
            "seq": self.seq,
            "uptime_ms": self.uptime_ms,
            "data": self.payload,
        }

    def __repr__(self):
        return "Frame(%s seq=%d up=%d %r)" % (self.type, self.seq, self.uptime_ms, self.payload)


def _is_digits(s):
    return len(s) > 0 and len(s) <= 12 and all("0" <= c <= "9" for c in s)


def _is_type(s):
    return 0 < len(s) <= 16 and all(("A" <= c <= "Z") or ("0" <= c <= "9") for c in s)


def _hex4(b):
    if len(b) != 4:
        return -1
    value = 0
    for c in b:
        if 48 <= c <= 57:
            d = c - 48
        elif 65 <= c <= 70:
            d = c - 55
        else:
            return -1
        value = (value << 4) | d
    return value


def decode(seg):
    """Decode bytes starting at the marker (no newline). Return a Frame or None; never raises."""
    try:
        if seg.endswith(b"\r"):
            seg = seg[:-1]
        if len(seg) < 12 or seg[-6:-4] != b" *":
            return None
        body = seg[:-6]
        if crc16(body) != _hex4(seg[-4:]):
            return None
        parts = body.decode().split(" ", 5)
        if len(parts) != 6 or parts[0] != MARKER:
            return None
        ver, ftype, seq, uptime, text = parts[1], parts[2], parts[3], parts[4], parts[5]
        if not (_is_digits(ver) and _is_type(ftype) and _is_digits(seq) and _is_digits(uptime)):
            return None
        payload = json.loads(text)
        if not isinstance(payload, dict):
            return None
        return Frame(int(ver), ftype, int(seq), int(uptime), payload)
    except Exception:  # malformed UTF-8 or JSON, whatever the bytes: a damaged frame, not a crash
        return None


def decode_line(line):
    """Decode one line (bytes, without the newline): (frame or None, damaged marker count).

    Text before the marker is skipped. If the line holds several markers (a lost newline, or log
    text that happens to contain one), the first that decodes wins and the earlier ones count as
    damaged.
    """
    damaged = 0
    start = line.find(_MARKER_B)
    while start >= 0:
        frame = decode(line[start:])
        if frame is not None:
            return frame, damaged
        damaged += 1
        start = line.find(_MARKER_B, start + 1)
    return None, damaged


class Parser:
    """Incremental frame parser: feed() any chunks of bytes, get the complete frames back.

    Never raises. Counts: frames (good), damaged (a marker with a bad CRC, header or JSON),
    lost (gaps in seq), reboots (uptime went backwards), and skipped_lines (non-frame text).
    The non-frame text lines of the last feed() are in `text` (for showing a traceback).
    """

    def __init__(self, max_line=MAX_LINE):
        self.max_line = max_line
        self.frames = 0
        self.damaged = 0
        self.lost = 0
        self.reboots = 0
        self.skipped_lines = 0
        self.text = []
        self._buf = b""
        self._last_seq = -1
        self._last_uptime = -1

    def feed(self, data):
        out = []
        self.text = []
        try:
            buf = self._buf + bytes(data)
        except Exception:
            return out
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            self._line(buf[start:end], out)
            start = end + 1
        rest = buf[start:]
        if len(rest) > self.max_line:
            if rest.find(_MARKER_B) >= 0:
                self.damaged += 1
            else:
                self.skipped_lines += 1
            rest = b""
        self._buf = rest
        return out

    def _line(self, line, out):
        frame, damaged = decode_line(line)
        self.damaged += damaged
        if frame is None:
            if damaged == 0 and line.strip():
                self.skipped_lines += 1
                try:
                    self.text.append(line.decode().rstrip())
                except Exception:
                    self.text.append(repr(line))
            return
        if self._last_seq >= 0:
            if frame.uptime_ms < self._last_uptime:
                self.reboots += 1
            else:
                self.lost += (frame.seq - self._last_seq - 1) % SEQ_MOD
        self._last_seq = frame.seq
        self._last_uptime = frame.uptime_ms
        self.frames += 1
        out.append(frame)

    def stats(self):
        return {
            "frames": self.frames,
            "damaged": self.damaged,
            "lost": self.lost,
            "reboots": self.reboots,
        }
