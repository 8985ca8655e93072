"""Drop-in gunicorn.conf.py: every record to Grafana Loki's push API.

    GUNICORN_LOGGERS_URL=http://127.0.0.1:3100/loki/api/v1/push gunicorn -c python:gunicorn_loggers.conf.loki app:app

Each record is one Loki entry (nanosecond timestamp, the JSON record as the line) in
the stream of three labels: service_name (GUNICORN_LOGGERS_SERVICE_NAME or
OTEL_SERVICE_NAME), level and kind (access or error). Query with
{service_name="shop", kind="access"} | json. Multi-tenant Loki:
GUNICORN_LOGGERS_HTTP_HEADERS="X-Scope-OrgID=tenant1". stderr keeps the delivery
reports and, while Loki is not taking records, a copy of the error log.
Bodies are gzipped (GUNICORN_LOGGERS_HTTP_GZIP=on here; off is the option's own default).
"""

import os

from gunicorn_loggers import wrap_worker_app

logger_class = "gunicorn_loggers.HttpLogger"
# Defaults; the environment's own values win.
os.environ.setdefault("GUNICORN_LOGGERS_HTTP_FORMAT", "loki")
os.environ.setdefault("GUNICORN_LOGGERS_HTTP_GZIP", "on")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
graceful_timeout = 30
post_worker_init = wrap_worker_app
