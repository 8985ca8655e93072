"""A Fluentd ``forward`` input decoding msgpack strictly: what FluentLogger sends."""

from __future__ import annotations

import gzip as gzip_module
import socket
import time

from ._listener import Listener, trickle
from ._records import _from, _path_of


class ForwardReceiver(Listener):
    """A Fluentd ``forward`` input on 127.0.0.1, strict to Forward Protocol v1.

    Accepts Message, Forward, PackedForward (``bin`` or ``str``) and
    CompressedPackedForward; times as integers or EventTime (ext type 0, 8 bytes);
    answers ``{"ack": chunk}`` when asked (unless ``ack`` is false), ``ack_delay``
    seconds after reading the chunk, or one byte of it every ``ack_trickle`` seconds
    (:attr:`hangups` lists how many seconds after the ack began a client hung up).
    Each event is kept as ``{"tag", "time_ns", "record", "mode"}``.
    """

    def __init__(
        self, port: int | None = None, ack: bool = True, ack_delay: float = 0.0, ack_trickle: float = 0.0
    ) -> None:
        super().__init__(port)
        self.ack = ack
        self.ack_delay = ack_delay
        self.ack_trickle = ack_trickle
        self.trickling = 0
        self.hangups: list[float] = []
        self.events: list[dict] = []
        self.errors: list[str] = []
        self.chunks: list[str] = []

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def on_connection(self, connection: socket.socket) -> None:
        self._keep(connection)
        self._spawn(self._read_loop, connection)

    def _read_loop(self, connection: socket.socket) -> None:
        import msgpack

        unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook, strict_map_key=False)
        for chunk in self._chunks(connection):
            unpacker.feed(chunk)
            try:
                for message in unpacker:
                    reply = self._message(message)
                    if reply is not None and self.ack_trickle:
                        with self._lock:
                            self.trickling += 1
                        hung_up = trickle(connection, reply, self.ack_trickle, lambda: self._running)
                        if hung_up is not None:
                            with self._lock:
                                self.hangups.append(hung_up)
                            return
                    elif reply is not None:
                        time.sleep(self.ack_delay)
                        connection.sendall(reply)
            except Exception as exc:  # a protocol violation: what a real input would log and drop
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                break

    def _message(self, message) -> bytes | None:
        import msgpack

        if message is None:
            return None  # heartbeat
        assert isinstance(message, list) and len(message) in (2, 3, 4), f"not a forward message: {message!r}"
        tag = message[0]
        assert isinstance(tag, str) and tag, f"tag {tag!r}"
        second = message[1]
        if isinstance(second, (int, EventTime)):  # Message mode
            assert len(message) in (3, 4) and isinstance(message[2], dict)
            events, mode = [(second, message[2])], "message"
            option = message[3] if len(message) == 4 else {}
        elif isinstance(second, list):  # Forward mode
            events, mode = [tuple(entry) for entry in second], "forward"
            option = message[2] if len(message) == 3 else {}
        elif isinstance(second, (bytes, str)):  # PackedForward, or compressed
            option = message[2] if len(message) == 3 else {}
            data = second.encode("utf-8", "surrogateescape") if isinstance(second, str) else second
            mode = "packed" if isinstance(second, bytes) else "packed-str"
            if option.get("compressed") == "gzip":
                assert isinstance(second, bytes), "CompressedPackedForward must use bin"
                data, mode = gzip_module.decompress(data), "compressed"
            entries = msgpack.Unpacker(raw=False, ext_hook=_ext_hook, strict_map_key=False)
            entries.feed(data)
            events = [tuple(entry) for entry in entries]
        else:
            raise AssertionError(f"cannot tell the mode from {type(second).__name__}")
        assert isinstance(option, dict), f"option {option!r}"
        if "size" in option:
            assert option["size"] == len(events), f"size {option['size']} but {len(events)} events"
        accepted = []
        for entry in events:
            assert len(entry) == 2, f"entry {entry!r}"
            stamp, record = entry
            assert isinstance(record, dict), f"record {record!r}"
            if isinstance(stamp, EventTime):
                time_ns = stamp.seconds * 1_000_000_000 + stamp.nanoseconds
            else:
                assert isinstance(stamp, int), f"time {stamp!r}"
                time_ns = stamp * 1_000_000_000
            accepted.append({"tag": tag, "time_ns": time_ns, "record": record, "mode": mode})
        with self._lock:
            self.events.extend(accepted)
            if "chunk" in option:
                self.chunks.append(option["chunk"])
        if "chunk" in option and self.ack:
            return msgpack.packb({"ack": option["chunk"]}, use_bin_type=True)
        return None

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def records(self, tag: str | None = None) -> list[dict]:
        return [e["record"] for e in self.snapshot() if tag is None or e["tag"] == tag]

    def access_paths(self) -> list[str]:
        return [p for p in (_path_of(r) for r in self.records()) if p and "__ready__" not in p]

    def text(self, pid: int | None = None) -> str:
        return "\n".join(str(r.get("message", "")) for r in self.records() if _from(r, pid))


class EventTime:
    def __init__(self, seconds: int, nanoseconds: int) -> None:
        self.seconds, self.nanoseconds = seconds, nanoseconds


def _ext_hook(code: int, data: bytes):
    import struct

    import msgpack

    if code == 0:
        assert len(data) == 8, f"EventTime of {len(data)} bytes"
        seconds, nanoseconds = struct.unpack(">II", data)
        assert nanoseconds < 1_000_000_000, f"nanoseconds {nanoseconds}"
        return EventTime(seconds, nanoseconds)
    return msgpack.ExtType(code, data)
