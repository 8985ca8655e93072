"""Where a gunicorn message was really logged from, for ``log.origin`` and its equivalents.

gunicorn's messages pass through its ``Logger.info``/``error``/... (and ``Statsd``'s, and
ours) before they reach ``logging``, so ``logging`` names that wrapper as the caller:
every record said ``glogging.py`` line 300, ``log``. The error log's ``findCaller``
skips those wrappers, and the record names the line of the arbiter or the worker
that logged it.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import traceback
from types import FrameType

from gunicorn import glogging
from gunicorn.instrument import statsd


def _source(path: str) -> str:
    return os.path.normcase(os.path.splitext(path)[0])


#: logging's own module, gunicorn's Logger and Statsd, and our logger classes.
_OUR_LOGGERS = os.path.join(os.path.dirname(__file__), "loggers.py")
_WRAPPERS = frozenset(_source(path) for path in (logging.__file__, glogging.__file__, statsd.__file__, _OUR_LOGGERS))


def find_caller_outside_wrappers(stack_info: bool = False, stacklevel: int = 1) -> tuple[str, int, str, str | None]:
    """``logging.Logger.findCaller`` with gunicorn's and our logger methods skipped as well."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and _source(frame.f_code.co_filename) in _WRAPPERS:
        frame = frame.f_back
    while frame is not None and stacklevel > 1:
        frame, stacklevel = frame.f_back, stacklevel - 1
    if frame is None:
        return "(unknown file)", 0, "(unknown function)", None
    info = None
    if stack_info:
        buffer = io.StringIO()
        buffer.write("Stack (most recent call last):\n")
        traceback.print_stack(frame, file=buffer)
        info = buffer.getvalue().rstrip("\n")
    code = frame.f_code
    return code.co_filename, frame.f_lineno, code.co_name, info
