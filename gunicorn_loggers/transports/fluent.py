"""Fluentd's forward protocol with acknowledgements, for Fluentd and Fluent Bit ``forward`` inputs.

Each batch goes as one *PackedForward* message per tag::

    [tag, bin(msgpack [EventTime, record] entries, concatenated), {"size": n, "chunk": "<base64 id>"}]

``EventTime`` is msgpack extension type 0: seconds and nanoseconds as two
big-endian uint32. With the ``chunk`` option the receiver answers
``{"ack": "<same id>"}`` once it has taken the chunk: only then are its records
counted delivered. A chunk with no ack within the read timeout is sent again on a
new connection (so a receiver that took it but lost the ack sees it twice:
at-least-once, as Fluentd's own ``out_forward`` with ``require_ack_response``).

Each frame holds one entry, packed where its record was built
(:mod:`gunicorn_loggers.framing.fluent`); its kind (``access`` or ``error``) picks the tag.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping

import msgpack

from ..frames import Frame
from . import Outcome, describe_error
from .socket import Endpoint, open_connection, peer_has_closed

#: Most records (and bytes of JSON) one batch holds; Fluent Bit's default chunk limit is far above.
BATCH_RECORDS, BATCH_BYTES = 1000, 1024 * 1024
#: Seconds to wait for the acks of a batch.
ACK_TIMEOUT = 10.0


class ForwardTransport:
    """PackedForward messages with ``chunk`` to a ``forward`` input; delivered once acknowledged."""

    def __init__(
        self,
        endpoint: Endpoint,
        tags: Mapping[str, str],
        *,
        ack_timeout: float = ACK_TIMEOUT,
        batch_records: int = BATCH_RECORDS,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.endpoint = endpoint
        self.name = f"forward+{endpoint}"
        self.tags = dict(tags)
        self.ack_timeout = ack_timeout
        self.batch_records = batch_records
        self.batch_bytes = batch_bytes
        #: ``time.monotonic()`` of the last ack: the engine's flush at exit gives up on a receiver
        #: that has acknowledged nothing for a while.
        self.progress_at = 0.0
        self._sock = None

    def connect(self, timeout: float) -> None:
        self.close()
        self._sock, _ = open_connection(self.endpoint, timeout)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def _chunks(self, batch: list[Frame]) -> list[tuple[str, list[Frame], bytes]]:
        """``(chunk id, frames, message)`` per tag, in the order each tag first appears."""
        groups: dict[str, list[Frame]] = {}
        for frame in batch:
            frames = groups.get(frame.kind)
            if frames is None:
                frames = groups[frame.kind] = []
            frames.append(frame)
        chunks = []
        for kind, frames in groups.items():
            tag = self.tags.get(kind) or self.tags.get("error") or "gunicorn"
            entries = b"".join([frame.data for frame in frames])
            chunk = base64.b64encode(uuid.uuid4().bytes).decode("ascii")
            message = msgpack.packb([tag, entries, {"size": len(frames), "chunk": chunk}], use_bin_type=True)
            chunks.append((chunk, frames, message))
        return chunks

    def send(self, batch: list[Frame], timeout: float | None) -> Outcome:
        sock = self._sock
        if sock is None:
            return Outcome(retry=batch, error="not connected")
        if peer_has_closed(sock):
            return Outcome(retry=batch, error="the receiver closed the connection")
        chunks = self._chunks(batch)
        wait = self.ack_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait  # the send and every ack share it
        sock.settimeout(wait)
        try:
            sock.sendall(b"".join(message for _, _, message in chunks))  # bounded in total since Python 3.5
        except OSError as exc:
            return Outcome(retry=batch, error=f"sending failed: {describe_error(exc)}")
        acked, error = self._read_acks(sock, {chunk for chunk, _, _ in chunks}, deadline, wait)
        delivered = sum(len(frames) for chunk, frames, _ in chunks if chunk in acked)
        retry = [frame for chunk, frames, _ in chunks if chunk not in acked for frame in frames]
        return Outcome(delivered=delivered, retry=retry, error=error if retry else None)

    def _read_acks(self, sock, expected: set[str], deadline: float, wait: float) -> tuple[set[str], str | None]:
        """The acks that come before ``deadline``: each read gets only what is left of it, so a receiver
        trickling its answer cannot stretch the wait."""
        unpacker = msgpack.Unpacker(raw=False)
        acked: set[str] = set()
        while acked != expected:
            left = deadline - time.monotonic()
            if left <= 0:
                return acked, f"no ack within {wait:g} s"
            sock.settimeout(left)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                return acked, f"no ack within {wait:g} s"
            except OSError as exc:
                return acked, f"waiting for the ack failed: {describe_error(exc)}"
            if not data:
                return acked, "the receiver closed the connection before acknowledging"
            unpacker.feed(data)
            for answer in unpacker:
                if isinstance(answer, dict) and answer.get("ack") in expected:
                    acked.add(answer["ack"])
                    self.progress_at = time.monotonic()
        return acked, None


__all__ = ["ForwardTransport"]
