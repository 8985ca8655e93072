"""A bounded cache whose hit costs one dict lookup, for values that repeat from request to request.

Addresses, hosts, referrers and credentials repeat: a client sends the same ones on
every request of a session. ``functools.lru_cache`` costs a call and a move to the
front of its list on each hit; ``memo[key]`` on a dict that already holds the key
is one lookup, and an access record makes half a dozen of them.

Instead of evicting the least recent entry, a full memo starts again empty: the
values in use come back at their next request, and a client sending endless new
values (to fill memory) never holds more than ``limit`` of them. Keys longer than
``longest`` characters are answered but not kept: gunicorn joins a repeated header
into one value, so a single request can send a user agent of hundreds of KiB.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class Memo(dict):
    """``memo[key]`` is ``function(key)``, computed once while at most ``limit`` keys are held.

    Keys are text, ints, or tuples of text and ``None``; ``longest`` bounds the
    characters of a kept key (of all its parts, for a tuple), ``None`` for ints.
    """

    __slots__ = ("function", "limit", "longest")

    def __init__(self, function: Callable[[Any], Any], limit: int, longest: int | None) -> None:
        super().__init__()
        self.function = function
        self.limit = limit
        self.longest = longest

    def __missing__(self, key: Hashable) -> Any:
        value = self.function(key)
        if self.longest is None or key_length(key) <= self.longest:
            if len(self) >= self.limit:
                self.clear()
            self[key] = value
        return value


def key_length(key: Any) -> int:
    if key.__class__ is tuple:
        return sum(len(part) for part in key if part is not None)
    return len(key)
