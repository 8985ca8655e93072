"""The requests a worker is serving, so that a worker gunicorn aborts still logs them.

After ``--timeout`` the arbiter sends the worker SIGABRT; gunicorn's handler calls the
``worker_abort`` hook and exits. The request being served then has no access record
of its own (a gthread worker's threads never answer), or one that says only that
gunicorn answered 500 in a millisecond (a sync worker, whose ``SystemExit`` passes
through gunicorn's error handler). gunicorn tells a logger nothing of a request
before ``access()``, so we wrap the ``pre_request``, ``post_request`` and
``worker_abort`` hooks of the configuration the logger is set up with; the user's
own hooks still run, after ours for the first and the last, before ours for the second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

#: Marks our wrappers, so a set-up run again (SIGHUP) wraps the user's hook, not ours.
_WRAPPED = "_gunicorn_loggers_wraps"


class InFlightRequests:
    """``id(req)`` -> (req, monotonic start, thread): what a worker is serving now.

    Two dict operations a request, written into the hooks (:func:`wrap_hooks`); gthread's
    threads each touch their own key, so the GIL is enough.
    """

    def __init__(self) -> None:
        self.requests: dict[int, tuple[Any, float, int]] = {}
        #: Requests of the aborting thread itself (a sync worker's): gunicorn answers them 500 next,
        #: and their access record is to say how long they really took.
        self.aborted: dict[int, float] = {}

    def reset(self) -> None:
        """A forked worker serves nothing yet. The dicts are emptied, not replaced: the hooks hold them."""
        self.requests.clear()
        self.aborted.clear()

    def abort(self) -> list[tuple[Any, float]]:
        """At SIGABRT: the requests no thread will answer, with their seconds so far.

        The current thread's own request is only marked (see :attr:`aborted`).
        """
        now = time.monotonic()
        here = threading.get_ident()
        unanswered = []
        for key, (req, start, thread) in list(self.requests.items()):
            if thread == here:
                self.aborted[key] = start
            else:
                unanswered.append((req, now - start))
                del self.requests[key]
        return unanswered

    def seconds_since_abort_start(self, req: Any) -> float | None:
        """For the marked request answered after the abort: its seconds since it started; None otherwise."""
        start = self.aborted.pop(id(req), None)
        return None if start is None else time.monotonic() - start


def _original(hook: Callable) -> Callable:
    return getattr(hook, _WRAPPED, hook)


def wrap_hooks(cfg: Any, in_flight: InFlightRequests, on_abort: Callable[[Any], None]) -> None:
    """Put our wrappers around the request and abort hooks of ``cfg`` (gunicorn's Config)."""
    settings = getattr(cfg, "settings", None)
    if not isinstance(settings, dict) or not all(name in settings for name in ("pre_request", "worker_abort")):
        return  # not gunicorn's Config (a test's stand-in): nothing to wrap
    user_pre = _original(settings["pre_request"].get())
    user_post = _original(settings["post_request"].get())
    user_abort = _original(settings["worker_abort"].get())
    # Every request runs both: the dict and the clocks are locals, not attribute and method lookups.
    requests, monotonic, get_ident = in_flight.requests, time.monotonic, threading.get_ident

    def pre_request(worker: Any, req: Any) -> None:
        requests[id(req)] = (req, monotonic(), get_ident())
        user_pre(worker, req)

    def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
        try:
            user_post(worker, req, environ, resp)
        finally:
            requests.pop(id(req), None)

    def worker_abort(worker: Any) -> None:
        try:
            on_abort(worker)
        finally:
            user_abort(worker)

    for name, hook, user in (
        ("pre_request", pre_request, user_pre),
        ("post_request", post_request, user_post),
        ("worker_abort", worker_abort, user_abort),
    ):
        setattr(hook, _WRAPPED, user)
        settings[name].value = hook
