"""Drop-in gunicorn.conf.py: every record as OTLP/HTTP (JSON) to an OpenTelemetry Collector.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_SERVICE_NAME=shop \\
    gunicorn -c python:gunicorn_loggers.conf.otlp app:app

The standard OpenTelemetry variables apply: OTEL_EXPORTER_OTLP_ENDPOINT (/v1/logs is
appended) or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (used as it is), ..._HEADERS,
..._COMPRESSION, ..._CERTIFICATE, ..._TIMEOUT, OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES. Without an endpoint, records go to http://localhost:4318/v1/logs.
Access records carry HTTP semantic-convention attributes and the trace context of
the request's traceparent. stderr keeps the delivery reports.
"""

import os

from gunicorn_loggers import wrap_worker_app

logger_class = "gunicorn_loggers.OtlpLogger"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
graceful_timeout = 30
post_worker_init = wrap_worker_app
