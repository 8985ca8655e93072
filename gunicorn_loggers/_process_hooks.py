"""Every at-fork and at-exit hook of the package, run from one place in one stated order.

gunicorn forks its workers from a master whose threads (delivery senders and
reporters) may hold locks and buffers; a child has one thread, so each module's
state must be made fresh there, the process id first. At exit the order matters
too: the loggers' own last records must still reach the engines, which then flush
to their collectors, then local buffers are written, and write failures told last.
Modules say which stage a hook belongs to; within a stage, hooks run in the order
they were added.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable

#: In a forked child, in this order.
CHILD_PROCESS_ID = 0  # the cached pid, which every other hook may read
CHILD_LOCKS = 1  # locks a thread of the parent may have held
CHILD_STATE = 2  # counters, queues, engines, requests in flight

#: At exit, in this order.
EXIT_REPORTS = 0  # the loggers' last records (access-log policy, processors)
EXIT_DELIVERY = 1  # network engines flush to their collectors
EXIT_BUFFERS = 2  # buffered access logs write what they hold
EXIT_FAILURES = 3  # lost records are told on stderr

Hook = Callable[[], None]

_before_fork: list[Hook] = []
_in_parent: list[Hook] = []
_child: dict[int, list[Hook]] = {CHILD_PROCESS_ID: [], CHILD_LOCKS: [], CHILD_STATE: []}
_exit: dict[int, list[Hook]] = {EXIT_REPORTS: [], EXIT_DELIVERY: [], EXIT_BUFFERS: [], EXIT_FAILURES: []}


def before_fork(hook: Hook) -> Hook:
    """Run ``hook`` in the parent just before each fork (write out what a child must not inherit)."""
    _before_fork.append(hook)
    return hook


def after_fork_in_parent(hook: Hook) -> Hook:
    """Run ``hook`` in the parent just after each fork (release what ``before_fork`` took)."""
    _in_parent.append(hook)
    return hook


def in_child(stage: int, hook: Hook) -> Hook:
    """Run ``hook`` in each forked child, at ``stage`` (one of the ``CHILD_*`` constants)."""
    _child[stage].append(hook)
    return hook


def at_exit(stage: int, hook: Hook) -> Hook:
    """Run ``hook`` when the process exits, at ``stage`` (one of the ``EXIT_*`` constants)."""
    _exit[stage].append(hook)
    return hook


def _run_before_fork() -> None:
    for hook in list(_before_fork):
        hook()


def _run_in_parent() -> None:
    for hook in list(_in_parent):
        hook()


def _run_in_child() -> None:
    for stage in sorted(_child):
        for hook in list(_child[stage]):
            hook()


def _run_at_exit() -> None:
    for stage in sorted(_exit):
        for hook in list(_exit[stage]):
            try:
                hook()
            except Exception:  # one failing hook must not keep the others (a flush, a report) from running
                pass


os.register_at_fork(before=_run_before_fork, after_in_parent=_run_in_parent, after_in_child=_run_in_child)
atexit.register(_run_at_exit)
