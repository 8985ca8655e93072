"""Drop-in gunicorn.conf.py: JSON on stdout (access) and stderr (errors, app records), for containers.

    gunicorn -c python:gunicorn_loggers.conf.json app:app

Options: GUNICORN_LOGGERS_* environment variables (see docs/options.md). Command-line
flags such as --access-logfile still override what is set here.
"""

import os

from gunicorn_loggers import app_logconfig, wrap_worker_app

logger_class = "gunicorn_loggers.JsonLogger"
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = app_logconfig(level=loglevel)
# Every app log line carries its request's id and trace id; the id goes back in X-Request-ID.
post_worker_init = wrap_worker_app
