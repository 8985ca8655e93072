"""TLS for the HTTP transport: a verifying client context, and the guard that keeps ``fork`` out of OpenSSL."""

from __future__ import annotations

import ssl

from .. import _process_hooks
from .._unpatched import allocate_lock, ssl_context_class


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A client context that checks the certificate and host name; ``ca_file`` replaces the system CAs."""
    context = ssl_context_class()(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    else:
        context.load_default_certs()
    return context


class ForkGuard:
    """Keeps ``fork`` out of OpenSSL while a sender thread is inside it.

    OpenSSL 3 takes process-wide locks during a handshake (algorithm fetches) and
    on the first reads after it. A worker forked while the master's sender holds
    one inherits it locked by a thread that does not exist there, and its own first
    handshake then waits forever (seen with gevent workers). So the sender holds
    this guard around every TLS operation, and ``fork`` waits for it — at most the
    time one operation may take (``longest`` seconds) — before going ahead anyway.
    """

    def __init__(self, longest: float) -> None:
        self._longest = longest
        self._lock = allocate_lock()
        self._held_for_fork = False
        _process_hooks.before_fork(self._before)
        _process_hooks.after_fork_in_parent(self._after)
        _process_hooks.in_child(_process_hooks.CHILD_LOCKS, self._in_child)

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def _before(self) -> None:
        self._held_for_fork = self._lock.acquire(True, self._longest)

    def _after(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self._lock.release()

    def _in_child(self) -> None:
        self._lock = allocate_lock()  # the child has no sender thread yet: nothing inside OpenSSL
        self._held_for_fork = False


class NoGuard:
    """What a transport without TLS holds instead: nothing."""

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        pass
