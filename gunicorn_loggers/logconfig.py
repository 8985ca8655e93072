"""A ``logconfig_dict`` that sends the application's records to gunicorn's error log as JSON.

gunicorn merges ``logconfig_dict`` into its defaults one key deep: its default
``loggers`` entry sets ``propagate: True`` on ``gunicorn.error`` and
``gunicorn.access`` and gives the root logger a stdout handler, so a minimal
dict prints every line twice (gunicorn issue #2496). This one replaces
``loggers`` and ``handlers`` wholesale, so each record is written once.
"""

from __future__ import annotations

from typing import Any


def app_logconfig(level: str = "INFO", loggers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dict for ``logconfig_dict``; ``loggers`` sets levels of the app's own loggers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level.upper(), "handlers": ["gunicorn_error_log"]},
        "loggers": dict(loggers or {}),
        "handlers": {"gunicorn_error_log": {"class": "gunicorn_loggers.GunicornErrorLogHandler"}},
        "formatters": {},
    }
