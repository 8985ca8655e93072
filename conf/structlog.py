"""Drop-in gunicorn.conf.py: one structlog-rendered stream for gunicorn, the app's structlog and stdlib records.

    gunicorn -c python:gunicorn_loggers.conf.structlog app:app

Access records on stdout, everything else on stderr; JSON, or structlog's
console renderer when the stream is a terminal (GUNICORN_LOGGERS_RENDERER).
Add your own processors with GUNICORN_LOGGERS_PROCESSORS=pkg.module.processor.
"""

import os

from gunicorn_loggers import app_logconfig, wrap_worker_app

logger_class = "gunicorn_loggers.StructlogLogger"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = app_logconfig(level=loglevel)
# Every app log line carries its request's id and trace id; the id goes back in X-Request-ID.
post_worker_init = wrap_worker_app
