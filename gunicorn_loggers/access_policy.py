"""Which access records are written, and at which level: skip, sample, keep what matters.

At scale most access records are load-balancer and Kubernetes probes and fast 200s
nobody reads, paid for at every hop of a pipeline. The policy decides from what is
cheap to read before any record is built (the status, the path, the user agent, the
duration, the ``traceparent`` header), so a record that is not written costs a small
part of one that is.

Sampling is consistent: the decision comes from the trace id, as OpenTelemetry's
probability sampling takes it (the 56 rightmost bits of the trace id, which W3C
Trace Context level 2 makes random, kept when at or above a threshold of
``(1 - rate) * 2**56``), so every service sampling at the same rate keeps the same
traces. A request without a valid trace id is decided from its request id, hashed
to the same 56 bits; a request with neither, at random.
"""

from __future__ import annotations

import hashlib
import os
from itertools import count
from typing import Any, NamedTuple

from .access_rules import (  # noqa: F401  (AccessPolicy and the constants are read from here too)
    _RANDOM_SPAN,
    DEFAULT_LEVELS,
    LEVEL_CLASSES,
    LEVELS,
    RANDOM_BITS,
    AccessPolicy,
)
from .config import load_access_policy  # noqa: F401  (the policy of an environment, for callers of this module)
from .correlation import clean_request_id
from .levels import ERROR_STATUS
from .request_context import REQUEST_CONTEXT_ENVIRON_KEY, RequestContext

#: Why a record was kept while sampling: the value of the documented field in each schema.
KEPT_SAMPLED, KEPT_SERVER_ERROR, KEPT_CLIENT_ERROR, KEPT_SLOW, KEPT_TRACED = (
    "sampled",
    "server_error",
    "client_error",
    "slow",
    "traced",
)


class Kept(NamedTuple):
    """A written record's sampling facts: the rate it was kept at (1.0 when kept whatever the rate) and why.

    A tuple: the ECS template keys its cache of written parts by it, and a tuple hashes in C.
    """

    rate: float
    reason: str


def random_bits_of_trace(trace_id: str) -> int:
    """The 56 rightmost bits of a 32-hex-digit trace id."""
    return int(trace_id[18:], 16)


def random_bits_of_text(text: str) -> int:
    """56 bits from any id (a request id): the same text gives the same bits in every process."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=7).digest()
    return int.from_bytes(digest, "big")


def sampled_in(bits: int, threshold: int) -> bool:
    return bits >= threshold


def random_bits() -> int:
    return int.from_bytes(os.urandom(7), "big")


_FLAG_BYTES = {f"{value:02x}": bool(value & 1) for value in range(256)}
_ZERO_BITS = "0" * 18


def trace_sampling_facts(header: Any) -> tuple[int | None, bool]:
    """(the trace id's 56 random bits, the sampled flag) of a version-00 ``traceparent``; (None, False)
    when there is none.

    It reads what the decision needs only (the version, the flags, the trace id's last 14 hex
    digits): it runs on every request sampled out, where the full check is slower.
    A header malformed elsewhere still decides the same way in every process; the record
    itself keeps only a fully valid header.
    """
    if header.__class__ is not str or len(header) != 55 or not header.startswith("00-") or header[52] != "-":
        return None, False
    sampled = _FLAG_BYTES.get(header[53:])
    if sampled is None:
        return None, False
    if sampled:
        return 0, True
    try:
        bits = int(header[21:35], 16)
    except ValueError:
        return None, False
    if not bits and header[3:21] == _ZERO_BITS:  # the all-zero trace id is invalid
        return None, False
    return bits, False


#: What :class:`AccessSelector` returns for a record that is not written.
SKIPPED, SAMPLED_OUT = "skipped", "sampled out"


def counted(counter: count) -> int:
    """How many times ``next()`` was called on ``counter``: ``count(5)`` has given 0 to 4."""
    return int(repr(counter)[6:-1])


def status_of(resp: Any) -> int:
    """The status gunicorn sent: an int on the asgi worker, "200 OK" with ``status_code`` parsed on WSGI."""
    status = resp.status
    if status.__class__ is int:
        return status
    code = getattr(resp, "status_code", None)
    if code.__class__ is int:
        return code
    text = status.decode("latin-1") if isinstance(status, bytes) else str(status)
    return int(text.split(None, 1)[0])


def seconds_of(request_time: Any) -> float:
    """A ``timedelta``, or the asgi worker's object with only ``seconds`` and ``microseconds``."""
    return request_time.seconds + request_time.microseconds / 1e6 + getattr(request_time, "days", 0) * 86400


class AccessSelector:
    """Decides, per request and before any record is built, whether its access record is written.

    Returns :data:`SKIPPED` or :data:`SAMPLED_OUT` for a record not to write (and counts
    it), a :class:`Kept` for a record written while sampling, ``None`` otherwise. The
    counters are exact under gthread without a lock: ``next()`` on an ``itertools.count``
    is one C call, which the GIL does not split, and cheaper than taking a lock on every record.
    """

    def __init__(self, policy: AccessPolicy, request_id_key: str) -> None:
        self.policy = policy
        self.request_id_key = request_id_key
        self._skips = policy.skips
        self._paths = policy.skip_paths
        self._path_prefixes = policy.skip_path_prefixes or None
        self._agents = policy.skip_agents
        self._agent_prefixes = policy.skip_agent_prefixes or None
        self._samples = policy.samples
        self._threshold = policy.threshold
        self._slow = policy.slow_seconds
        self._keep_4xx = policy.keep_client_errors
        self._sampled = Kept(policy.sample_rate, KEPT_SAMPLED)
        self._server_error = Kept(1.0, KEPT_SERVER_ERROR)
        self._client_error = Kept(1.0, KEPT_CLIENT_ERROR)
        self._slow_kept = Kept(1.0, KEPT_SLOW)
        self._traced = Kept(1.0, KEPT_TRACED)
        self.reset_counts()

    def reset_counts(self) -> None:
        """A forked worker counts its own records."""
        self._skipped = count()
        self._sampled_out = count()

    @property
    def skipped(self) -> int:
        return counted(self._skipped)

    @property
    def sampled_out(self) -> int:
        return counted(self._sampled_out)

    def _skip(self) -> str:
        next(self._skipped)
        return SKIPPED

    def _sample_out(self) -> str:
        next(self._sampled_out)
        return SAMPLED_OUT

    def is_skipped(self, path: str | None, agent: str | None) -> bool:
        """``path`` and ``agent`` as the environ holds them (PEP 3333 latin-1 text)."""
        if path is not None and (
            path in self._paths or (self._path_prefixes is not None and path.startswith(self._path_prefixes))
        ):
            return True
        return agent is not None and (
            agent in self._agents or (self._agent_prefixes is not None and agent.startswith(self._agent_prefixes))
        )

    def __call__(self, resp: Any, environ: dict, request_time: Any) -> Kept | str | None:
        status = status_of(resp)
        if self._skips and status < 400:
            get = environ.get
            path = get("PATH_INFO")
            script = get("SCRIPT_NAME")
            if script and path is not None:
                path = script + path
            if self.is_skipped(path, get("HTTP_USER_AGENT")):
                return self._skip()
        if not self._samples:
            return None
        if status >= ERROR_STATUS:
            return self._server_error
        if status >= 400 and self._keep_4xx:
            return self._client_error
        if self._slow is not None and request_time is not None and seconds_of(request_time) >= self._slow:
            return self._slow_kept
        context = environ.get(REQUEST_CONTEXT_ENVIRON_KEY)
        if context.__class__ is RequestContext:
            request_id, trace = context
            if trace is not None:
                return self._sample(random_bits_of_trace(trace.trace_id), trace.sampled, None)
            return self._sample(None, False, request_id)
        bits, sampled = trace_sampling_facts(environ.get("HTTP_TRACEPARENT"))
        if bits is not None:
            return self._sample(bits, sampled, None)
        return self._sample(None, False, clean_request_id(environ.get(self.request_id_key)))

    def _sample(self, bits: int | None, sampled: bool, request_id: str | None) -> Kept | str:
        """``bits``: the trace id's; without them, the request id's, or random ones."""
        if sampled:
            return self._traced
        if bits is None:
            bits = random_bits_of_text(request_id) if request_id else random_bits()
        return self._sampled if bits >= self._threshold else self._sample_out()

    def of_facts(self, facts: Any) -> Kept | str | None:
        """The same decision for facts built elsewhere (uvicorn's access lines): text, no duration."""
        status = facts.status
        if self._skips and status is not None and status < 400:
            path = facts.path.encode("utf-8", "surrogateescape").decode("latin-1") if facts.path else None
            agent = facts.user_agent.encode("utf-8", "surrogateescape").decode("latin-1") if facts.user_agent else None
            if self.is_skipped(path, agent):
                return self._skip()
        if not self._samples:
            return None
        if status is None or status >= ERROR_STATUS:
            return self._server_error
        if status >= 400 and self._keep_4xx:
            return self._client_error
        seconds = facts.duration_seconds
        if self._slow is not None and seconds is not None and seconds >= self._slow:
            return self._slow_kept
        trace = facts.trace
        if trace is not None:
            return self._sample(random_bits_of_trace(trace.trace_id), trace.sampled, None)
        return self._sample(None, False, facts.request_id)
