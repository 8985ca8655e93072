"""What the ACCESS_* options say: the access-log policy as data, and the parsers of its options.

The options' table (:mod:`gunicorn_loggers.options`) parses with these, the settings
(:mod:`gunicorn_loggers.config`) hold an :class:`AccessPolicy`, and
:mod:`gunicorn_loggers.access_policy` decides per request from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import levels as all_levels
from .errors import ConfigError

#: Bits of randomness a decision reads (OpenTelemetry's probability sampling, W3C level 2).
RANDOM_BITS = 56
_RANDOM_SPAN = 1 << RANDOM_BITS
#: The levels an access record may have (levels.LEVELS without critical), with their numbers.
LEVELS = {name: all_levels.LEVELS[name].number for name in ("debug", "info", "warning", "error")}
LEVEL_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "slow")
#: 5xx is an error of ours; 4xx is the client's and stays info, as OpenTelemetry says for servers.
DEFAULT_LEVELS = {"5xx": "error"}


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
