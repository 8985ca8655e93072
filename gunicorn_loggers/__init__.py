"""gunicorn Logger classes that write structured JSON.

Pick one with ``--logger-class gunicorn_loggers.JsonLogger`` (or
``egg:gunicorn-loggers#json``); options are ``GUNICORN_LOGGERS_*`` variables.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

#: Public name -> the module that defines it. Imported on first use, so that a JsonLogger
#: imports neither structlog nor msgpack nor the network stack.
_EXPORTS = {
    "ConfigError": ".config",
    "Settings": ".config",
    "load_settings": ".config",
    "JsonFormatter": ".formatter",
    "GunicornErrorLogHandler": ".handlers",
    "app_logconfig": ".logconfig",
    "JsonLogger": ".loggers",
    "StructlogLogger": ".loggers",
    "FluentLogger": ".network_loggers",
    "HttpLogger": ".network_loggers",
    "OtlpLogger": ".network_loggers",
    "SocketLogger": ".network_loggers",
    "SyslogLogger": ".network_loggers",
    "current_request": ".request_context",
    "with_request_context": ".request_context",
    "wrap_worker_app": ".request_context",
    "configure_structlog": ".structlog_chain",
    "structlog_processors": ".structlog_chain",
}

if TYPE_CHECKING:
    from .config import ConfigError, Settings, load_settings
    from .formatter import JsonFormatter
    from .handlers import GunicornErrorLogHandler
    from .logconfig import app_logconfig
    from .loggers import JsonLogger, StructlogLogger
    from .network_loggers import FluentLogger, HttpLogger, OtlpLogger, SocketLogger, SyslogLogger
    from .request_context import current_request, with_request_context, wrap_worker_app
    from .structlog_chain import configure_structlog, structlog_processors


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


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
