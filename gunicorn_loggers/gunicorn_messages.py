"""Keeping client secrets out of the messages gunicorn logs about requests.

gunicorn's error log quotes what a client sent. When the app fails, the target
(``Error handling request GET /login?token=...``), an argument of the record: it is
redacted as the access record's target is. When gunicorn refuses a request or the
client goes away mid-request, the line it could not parse (or the bytes read so
far) as a Python ``repr`` at the end of a pre-formatted message (``Invalid request
from ip=...: Invalid HTTP Header: 'Authorization Bearer ...'``): that repr is read
back, redacted as the request line, header lines or target it is, and written again,
so the quotes and escapes a reader sees are still Python's.
"""

from __future__ import annotations

import ast
import logging
import re

from .redaction import RequestTextRedactor, redact_target, redact_urls_in_text
from .text import wsgi_repr

#: The formats of ``Worker.handle_error``, whose last argument is ``req.uri``.
_TARGET_FORMATS = frozenset({"Error handling request %s %s", "Error handling request %s"})
#: The warning ``handle_error`` writes for a refused request; what it quotes was decoded as latin-1.
REFUSAL_PREFIX = "Invalid request from ip="
#: Where a quoted value starts: a quote, or ``b`` and a quote, after a blank.
_QUOTE_START = re.compile(r"(?<=\s)b?['\"]")


class GunicornMessageRedactor:
    """``redactor(record, message)``: the message of a gunicorn.error record, with what the client sent redacted."""

    def __init__(self, redact_request_text: RequestTextRedactor) -> None:
        self.redact_request_text = redact_request_text
        self.redact_query = redact_request_text.redact_query

    def __call__(self, record: logging.LogRecord, message: str) -> str:
        if record.msg.__class__ is str and record.msg in _TARGET_FORMATS:
            redacted = self.with_target_redacted(record.args, message)
            if redacted is not None:
                return redacted
        if message[-1:] in ("'", '"'):
            redacted = self.with_quoted_text_redacted(message)
            if redacted is not None:
                return redacted
        return redact_urls_in_text(message, self.redact_query)

    def with_target_redacted(self, args: object, message: str) -> str | None:
        """``Error handling request GET /login?token=REDACTED``; None when the message does not end with the target.

        The target is known exactly (the last argument), so its quotes, ``<`` or
        blanks cannot hide a parameter from the redactor.
        """
        if not isinstance(args, tuple) or not args or not isinstance(args[-1], str):
            return None
        target = args[-1]
        if not message.endswith(target):
            return None
        return message[: len(message) - len(target)] + redact_target(target, self.redact_query)

    def with_quoted_text_redacted(self, message: str) -> str | None:
        """The message with the repr it ends with redacted; None when it does not end with one.

        Only the first quote after a blank is tried: the text gunicorn writes before
        the repr has no quotes, and trying later ones would read the client's text
        as quotes of its own. A refusal's text was decoded as latin-1: it is shown
        with its UTF-8 decoded and other bytes as ``\\xNN``, as the access record's
        fields are, rather than as mojibake (``/cafÃ©``).
        """
        start = _QUOTE_START.search(message)
        if start is None:
            return None
        quoted = message[start.start() :]
        try:
            value = ast.literal_eval(quoted)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
        if isinstance(value, bytes):
            text = value.decode("latin-1")
            redacted = self.redact_request_text(text)
            requoted = quoted if redacted == text else repr(redacted.encode("latin-1"))
        elif isinstance(value, str):
            redacted = self.redact_request_text(value)
            if message.startswith(REFUSAL_PREFIX):
                requoted = wsgi_repr(redacted)
            else:
                requoted = quoted if redacted == value else repr(redacted)
        else:
            return None
        return message[: start.start()] + requoted
