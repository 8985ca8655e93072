"""Drop-in gunicorn.conf.py: every record to a Fluentd or Fluent Bit forward input.

    GUNICORN_LOGGERS_URL=tcp://127.0.0.1:24224 gunicorn -c python:gunicorn_loggers.conf.fluent app:app

Records go as PackedForward batches tagged gunicorn.access and gunicorn.error
(GUNICORN_LOGGERS_FLUENT_TAG changes the prefix); a batch counts as delivered when
the input acknowledges it. stderr keeps the delivery reports and, while the input is
not taking records, a copy of the error log.
"""

import os

from gunicorn_loggers import wrap_worker_app

logger_class = "gunicorn_loggers.FluentLogger"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
graceful_timeout = 30
post_worker_init = wrap_worker_app
