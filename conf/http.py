"""Drop-in gunicorn.conf.py: every record as NDJSON in batched POSTs (Vector, Fluent Bit, Logstash http inputs).

    GUNICORN_LOGGERS_URL=http://127.0.0.1:8080/logs gunicorn -c python:gunicorn_loggers.conf.http app:app

Access records and the error log (with the app's own records) go to
GUNICORN_LOGGERS_URL (http:// or https://), many records per request. stderr keeps
the delivery reports and, while the collector is not taking records, a copy of the
error log. Credentials: user info in the URL, or GUNICORN_LOGGERS_HTTP_HEADERS such
as "Authorization=Bearer ${LOG_TOKEN}". Other options: GUNICORN_LOGGERS_* variables
(see docs/options.md). Command-line flags still override what is set here.
"""

import os

from gunicorn_loggers import wrap_worker_app

logger_class = "gunicorn_loggers.HttpLogger"
# Defaults; the environment's own values win.
os.environ.setdefault("GUNICORN_LOGGERS_HTTP_FORMAT", "ndjson")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Time for the last records to leave on a graceful stop (the flush gets this minus one second).
graceful_timeout = 30
# Every app log line carries its request's id and trace id; the id goes back in X-Request-ID.
post_worker_init = wrap_worker_app
