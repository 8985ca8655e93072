"""The error a user's mistake in the configuration raises, and the prefix of every option's name."""

from __future__ import annotations

PREFIX = "GUNICORN_LOGGERS_"


class ConfigError(RuntimeError):
    """A user's mistake in an option: one line, no traceback (gunicorn prints it)."""


__all__ = ["PREFIX", "ConfigError"]
