"""A virtual radio: ESP-NOW-like broadcast between virtual boards running on this computer.

    radio = vradio.Radio("festival", mac, clock, loss=0.1, delay_ms=20)
    radio.send(b"sync"); n = radio.recv_into(buf)   # non-blocking: 0 when nothing has arrived

A channel is a name (`cocoon sim --radio festival[:loss=0.1,delay_ms=20,seed=1]`): boards given the
same name hear each other's broadcasts, nobody else does. No hub process: each board binds one UDP
port on 127.0.0.1 in a block of SLOTS ports derived from the name, and a broadcast is one datagram
to every port of the block (boards do not hear themselves, as with ESP-NOW broadcast).
Datagram: b"CCR1", the channel's 32-bit hash, the sender's 6-byte MAC, the payload (at most 250
bytes: ESP-NOW v1, esp_now.h ESP_NOW_MAX_DATA_LEN). `loss` drops that fraction of the packets each
receiver gets (each draws on its own, like real radio); `delay_ms` delivers a packet that many ms
of the receiver's virtual time after it arrived. Boards that share a channel should run at the same
--speed: each has its own virtual clock.
"""

import random
import select
import socket
import struct

MAX_PAYLOAD = 250
BASE_PORT = 20000  # below Linux's ephemeral range (32768-60999)
SLOTS = 32  # boards per channel
BLOCKS = 256
_MAGIC = b"CCR1"
_HEADER = 14  # magic, channel hash, MAC


def channel_hash(name):
    """FNV-1a, 32 bits: the same number on every board for the same name."""
    h = 0x811C9DC5
    for b in name.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def parse_spec(spec):
    """'name[:loss=0.1,delay_ms=20,seed=1]' -> (name, loss, delay_ms, seed); ValueError if bad."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise ValueError("--radio needs a channel name, e.g. --radio festival")
    loss, delay_ms, seed = 0.0, 0, None
    for item in rest.split(",") if rest else ():
        key, eq, value = item.partition("=")
        key = key.strip()
        try:
            if not eq:
                raise ValueError
            if key == "loss":
                loss = float(value)
                if not 0.0 <= loss <= 1.0:
                    raise ValueError
            elif key == "delay_ms":
                delay_ms = int(value)
                if delay_ms < 0:
                    raise ValueError
            elif key == "seed":
                seed = int(value)
            else:
                raise KeyError
        except KeyError:
            raise ValueError("--radio: unknown option %r (loss, delay_ms, seed)" % key) from None
        except ValueError:
            raise ValueError(
                "--radio: bad value in %r (loss 0..1, delay_ms >= 0, seed int)" % item
            ) from None
    return name, loss, delay_ms, seed


class Radio:
    def __init__(self, name, mac, clock, loss=0.0, delay_ms=0, seed=None):
        self.name = name
        self.mac = bytes(mac)
        self.clock = clock
        self.loss = loss
        self.delay_us = delay_ms * 1000
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self.last_mac = None
        self._rng = random
        if seed is not None:
            random.seed(seed)
        h = channel_hash(name)
        self._header = _MAGIC + struct.pack("<I", h) + self.mac
        self._prefix = self._header[:8]
        base = BASE_PORT + SLOTS * (h % BLOCKS)
        self._peers = [socket.getaddrinfo("127.0.0.1", base + i)[0][-1] for i in range(SLOTS)]
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.port = None
        for i in range(SLOTS):
            try:
                self._sock.bind(self._peers[i])
            except OSError:
                continue
            self.port = base + i
            self._own = i
            break
        if self.port is None:
            raise ValueError("--radio %s: all %d places on this channel are taken" % (name, SLOTS))
        self._sock.setblocking(False)
        self._poll = select.poll()
        self._poll.register(self._sock, select.POLLIN)
        self._queue = []  # (due world us, sender MAC, payload) while delay_ms holds them

    def send(self, msg):
        if len(msg) > MAX_PAYLOAD:
            raise ValueError("ESP-NOW payload is at most %d bytes" % MAX_PAYLOAD)
        packet = self._header + bytes(msg)
        for i in range(SLOTS):
            if i != self._own:
                try:
                    self._sock.sendto(packet, self._peers[i])
                except OSError:
                    pass  # nobody there (or the kernel refused): broadcast is best effort
        self.sent += 1
        return True

    def _pull(self):
        while True:
            ready = False
            for _ in self._poll.ipoll(0):
                ready = True
            if not ready:
                return
            try:
                data = self._sock.recv(_HEADER + MAX_PAYLOAD + 16)
            except OSError:
                return
            if len(data) < _HEADER or data[:8] != self._prefix:
                continue  # not ours
            if self.loss and self._rng.random() < self.loss:
                self.dropped += 1
                continue
            due = self.clock.world_us() + self.delay_us if self.delay_us else 0
            self._queue.append((due, data[8:14], data[_HEADER:]))

    def any(self):
        self._pull()
        return bool(self._queue) and self._queue[0][0] <= self.clock.world_us()

    def recv_into(self, buf):
        """Copy the next packet into buf; its length (cut to len(buf)), or 0 if none is due."""
        self._pull()
        if not self._queue:
            return 0
        due, mac, payload = self._queue[0]
        if due and due > self.clock.world_us():
            return 0
        self._queue.pop(0)
        n = min(len(payload), len(buf))
        buf[:n] = payload[:n]
        self.last_mac = mac
        self.received += 1
        return n

    def close(self):
        self._sock.close()


class OffAir:
    """The radio of a board alone (no --radio): sends go nowhere, nothing arrives."""

    def __init__(self, mac):
        self.name = None
        self.mac = bytes(mac)
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self.last_mac = None

    def send(self, msg):
        if len(msg) > MAX_PAYLOAD:
            raise ValueError("ESP-NOW payload is at most %d bytes" % MAX_PAYLOAD)
        self.sent += 1
        return True

    def any(self):
        return False

    def recv_into(self, buf):
        return 0

    def close(self):
        pass
