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
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any, NamedTuple

from . import levels as all_levels
from .correlation import clean_request_id
from .levels import ERROR_STATUS
from .options import PREFIX, ConfigError, option_value
from .request_context import REQUEST_CONTEXT_ENVIRON_KEY, RequestContext

#: Bits of randomness a decision reads (OpenTelemetry's probability sampling, W3C level 2).
RANDOM_BITS = 56
_RANDOM_SPAN = 1 << RANDOM_BITS

#: The levels an access record may have (levels.LEVELS without critical), with their numbers.
LEVELS = {name: all_levels.LEVELS[name].number for name in ("debug", "info", "warning", "error")}
LEVEL_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "slow")
#: 5xx is an error of ours; 4xx is the client's and stays info, as OpenTelemetry says for servers.
DEFAULT_LEVELS = {"5xx": "error"}

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


@dataclass(frozen=True)
class AccessPolicy:
    """The parsed policy options; the defaults write every record as before."""

    skip_paths: frozenset[str] = frozenset()
    skip_path_prefixes: tuple[str, ...] = ()
    skip_agents: frozenset[str] = frozenset()
    skip_agent_prefixes: tuple[str, ...] = ()
    sample_rate: float = 1.0
    keep_client_errors: bool = True
    slow_seconds: float | None = None
    levels: tuple[tuple[str, str], ...] = tuple(DEFAULT_LEVELS.items())

    @property
    def skips(self) -> bool:
        return bool(self.skip_paths or self.skip_path_prefixes or self.skip_agents or self.skip_agent_prefixes)

    @property
    def samples(self) -> bool:
        return self.sample_rate < 1.0

    @property
    def threshold(self) -> int:
        """A request is kept when its 56 random bits are at least this."""
        return round((1.0 - self.sample_rate) * _RANDOM_SPAN)

    def level_table(self) -> dict[str, str]:
        return dict(self.levels)

    @property
    def is_default(self) -> bool:
        """Every record written, 5xx an error and the rest info: nothing for the request path to do."""
        return not self.skips and not self.samples and self.levels == tuple(DEFAULT_LEVELS.items())

    def levels_by_class(self) -> tuple[str, ...]:
        """``levels_by_class()[status // 100]`` for statuses 0 to 599 (0xx and 6xx+ are read as 5xx)."""
        table = dict(self.levels)
        return tuple(table.get(f"{n}xx", "error" if n >= 5 else "info") for n in range(6))

    def slow_level(self) -> str | None:
        return dict(self.levels).get("slow")


def _to_wsgi(text: str) -> str:
    """A pattern as it appears in a WSGI environ: its UTF-8 bytes read as latin-1 (PEP 3333)."""
    return text.encode("utf-8").decode("latin-1")


Patterns = tuple[frozenset[str], tuple[str, ...], frozenset[str], tuple[str, ...]]


def parse_skip_patterns(raw: str, variable: str) -> Patterns:
    """``ACCESS_SKIP``: exact paths, path prefixes, exact user agents, user agent prefixes."""
    paths: set[str] = set()
    path_prefixes: list[str] = []
    agents: set[str] = set()
    agent_prefixes: list[str] = []
    for part in raw.split(","):
        pattern = part.strip()
        if not pattern:
            raise ConfigError(f"{variable} has an empty pattern: {raw!r} (patterns are separated by commas)")
        if pattern.lower().startswith("ua:"):
            agent = pattern[3:]
            if not agent or agent == "*" or "*" in agent[:-1]:
                raise ConfigError(
                    f"{variable}: {pattern!r} is not a user agent pattern: ua:NAME or ua:PREFIX* "
                    "(one * at the end), e.g. ua:kube-probe/*"
                )
            (agent_prefixes.append(agent[:-1]) if agent.endswith("*") else agents.add(agent))
        elif pattern.startswith("/"):
            if "*" in pattern[:-1]:
                raise ConfigError(f"{variable}: {pattern!r}: a path pattern takes one * at its end only")
            wsgi = _to_wsgi(pattern)
            (path_prefixes.append(wsgi[:-1]) if wsgi.endswith("*") else paths.add(wsgi))
        else:
            raise ConfigError(
                f"{variable}: {pattern!r} is neither a path (/healthz, /static/*) nor a user agent (ua:GoogleHC/*)"
            )
    return frozenset(paths), tuple(path_prefixes), frozenset(agents), tuple(agent_prefixes)


def parse_levels(raw: str, variable: str) -> tuple[tuple[str, str], ...]:
    """``ACCESS_LEVELS``: the (class, level) pairs given, laid over :data:`DEFAULT_LEVELS` by the policy."""
    pairs = []
    for part in raw.split(","):
        key, sep, value = part.strip().partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if not sep or key not in LEVEL_CLASSES or value not in LEVELS:
            raise ConfigError(
                f"{variable}: {part.strip()!r} is not CLASS=LEVEL with CLASS one of {', '.join(LEVEL_CLASSES)} "
                f"and LEVEL one of {', '.join(LEVELS)}, e.g. 4xx=warning,slow=warning"
            )
        pairs.append((key, value))
    return tuple(pairs)


def load_access_policy(env: Mapping[str, str]) -> AccessPolicy:
    """The policy of the ACCESS_* options in ``env``, each parsed by the options' table."""
    skip = option_value(env, "ACCESS_SKIP") or ((), (), (), ())
    slow = option_value(env, "ACCESS_SLOW")
    levels = tuple({**DEFAULT_LEVELS, **dict(option_value(env, "ACCESS_LEVELS"))}.items())
    if slow is None and "slow" in dict(levels):
        raise ConfigError(f"{PREFIX}ACCESS_LEVELS sets a level for slow requests: set {PREFIX}ACCESS_SLOW too")
    if slow is not None and "slow" not in dict(levels):
        levels = (*levels, ("slow", "warning"))  # a slow request is worth a look unless told otherwise
    return AccessPolicy(
        skip_paths=frozenset(skip[0]),
        skip_path_prefixes=tuple(skip[1]),
        skip_agents=frozenset(skip[2]),
        skip_agent_prefixes=tuple(skip[3]),
        sample_rate=option_value(env, "ACCESS_SAMPLE"),
        keep_client_errors=option_value(env, "ACCESS_KEEP_4XX"),
        slow_seconds=slow,
        levels=levels,
    )


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
