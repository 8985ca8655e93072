"""gunicorn Logger classes that write structured JSON.

Pick one with ``--logger-class gunicorn_loggers.JsonLogger`` (or
``egg:gunicorn-loggers#json``); options are ``GUNICORN_LOGGERS_*`` variables.
"""

from __future__ import annotations

from .config import ConfigError, Settings, load_settings
from .formatter import JsonFormatter
from .handlers import GunicornErrorLogHandler
from .logconfig import app_logconfig
from .loggers import JsonLogger, StructlogLogger
from .network_loggers import FluentLogger, HttpLogger, OtlpLogger, SocketLogger, SyslogLogger
from .request_context import current_request, with_request_context, wrap_worker_app
from .structlog_chain import configure_structlog, structlog_processors

__version__ = "0.2.0"

__all__ = [
    "ConfigError",
    "FluentLogger",
    "GunicornErrorLogHandler",
    "HttpLogger",
    "JsonFormatter",
    "JsonLogger",
    "OtlpLogger",
    "Settings",
    "SocketLogger",
    "StructlogLogger",
    "SyslogLogger",
    "__version__",
    "app_logconfig",
    "configure_structlog",
    "current_request",
    "load_settings",
    "structlog_processors",
    "with_request_context",
    "wrap_worker_app",
]
