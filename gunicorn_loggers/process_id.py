"""This process's id without a system call on every record.

``os.getpid()`` is a system call (glibc stopped caching it), which every record that
stamps its pid or checks whether it runs in a fresh fork would pay. The
cached value is refreshed by ``os.register_at_fork`` in every child; a C library
that forks and goes on running Python must call ``PyOS_AfterFork_Child``, which
runs the same hooks, so no child keeps its parent's value.
"""

from __future__ import annotations

import os

from . import _process_hooks

#: Read as ``process_id.pid`` (a module attribute, refreshed at fork), never imported by name.
pid = os.getpid()


def _refresh() -> None:
    global pid
    pid = os.getpid()


_process_hooks.in_child(_process_hooks.CHILD_PROCESS_ID, _refresh)


def current_pid() -> int:
    """``os.getpid()``, from the value cached at start-up or at the last fork."""
    return pid
