"""Drop-in gunicorn.conf.py: every record as RFC 5424 syslog with the JSON record as MSG.

    gunicorn -c python:gunicorn_loggers.conf.syslog app:app
    gunicorn -c python:gunicorn_loggers.conf.syslog --log-syslog-to tcp://logs.internal:6514 app:app

Octet-counting framing over TCP, one message per datagram over UDP (at most
GUNICORN_LOGGERS_MAX_DATAGRAM bytes), no BOM. The receiver configs for rsyslog and
syslog-ng are in docs/sinks/syslog.md. stderr keeps the delivery reports and,
while syslog is not taking records, a copy of the error log.
"""

import os

from gunicorn_loggers import wrap_worker_app

logger_class = "gunicorn_loggers.SyslogLogger"
syslog_addr = "udp://127.0.0.1:514"
syslog_facility = "local0"
syslog_prefix = os.environ.get("GUNICORN_SYSLOG_APP_NAME") or None  # APP-NAME; the proc name when unset
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
graceful_timeout = 30
# Every app log line carries its request's id and trace id; the id goes back in X-Request-ID.
post_worker_init = wrap_worker_app
