"""Drop-in gunicorn.conf.py: every record into an Elasticsearch or OpenSearch data stream through _bulk.

    GUNICORN_LOGGERS_URL=https://elastic:${ES_PASSWORD}@es.example:9200/logs-gunicorn-default/_bulk \\
    gunicorn -c python:gunicorn_loggers.conf.elasticsearch app:app

Records are ECS documents (the default schema), sent as "create" actions, which data
streams require. Items the cluster refuses for good (a mapping error) are counted and
reported; items it pushes back (429, 5xx) are sent again. An API key instead of a
password: GUNICORN_LOGGERS_HTTP_HEADERS="Authorization=ApiKey ${ES_API_KEY}". A private
CA: GUNICORN_LOGGERS_CA_FILE=/etc/ssl/es-ca.pem. stderr keeps the delivery reports.
Bodies are gzipped (GUNICORN_LOGGERS_HTTP_GZIP=on here; off is the option's own default).
"""

import os

from gunicorn_loggers import wrap_worker_app

logger_class = "gunicorn_loggers.HttpLogger"
# Defaults; the environment's own values win.
os.environ.setdefault("GUNICORN_LOGGERS_HTTP_FORMAT", "bulk")
os.environ.setdefault("GUNICORN_LOGGERS_SCHEMA", "ecs")
os.environ.setdefault("GUNICORN_LOGGERS_HTTP_GZIP", "on")
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
graceful_timeout = 30
post_worker_init = wrap_worker_app
