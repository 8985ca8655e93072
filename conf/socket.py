"""Drop-in gunicorn.conf.py: every record as NDJSON to a collector (Vector, Fluent Bit, Logstash json_lines).

    GUNICORN_LOGGERS_URL=tcp://127.0.0.1:5170 gunicorn -c python:gunicorn_loggers.conf.socket app:app

Access records and the error log (with the app's own records) go to
GUNICORN_LOGGERS_URL (tcp://HOST:PORT, udp://HOST:PORT or unix:///PATH). stderr
keeps the delivery reports and, while the collector is not taking records, a copy
of the error log. Other options: GUNICORN_LOGGERS_* environment variables (see
docs/options.md). Command-line flags still override what is set here.
"""

import os

from gunicorn_loggers import wrap_worker_app

logger_class = "gunicorn_loggers.SocketLogger"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Time for the last records to leave on a graceful stop (the flush gets this minus one second).
graceful_timeout = 30
# Every app log line carries its request's id and trace id; the id goes back in X-Request-ID.
post_worker_init = wrap_worker_app
