"""Drop-in gunicorn.conf.py: JSON written to files, ready for logrotate.

    gunicorn -c python:gunicorn_loggers.conf.json_file app:app

Files default to /var/log/gunicorn/{access,error}.log; override with
--access-logfile / --error-logfile. After logrotate renames a file, send
SIGUSR1 to the master (``postrotate kill -USR1 $(cat /run/gunicorn.pid)``): every
process reopens its files without losing a line. docs/sinks/files.md has the logrotate file.
"""

import os

from gunicorn_loggers import app_logconfig, wrap_worker_app

logger_class = "gunicorn_loggers.JsonLogger"
accesslog = "/var/log/gunicorn/access.log"
errorlog = "/var/log/gunicorn/error.log"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = app_logconfig(level=loglevel)
# Every app log line carries its request's id and trace id; the id goes back in X-Request-ID.
post_worker_init = wrap_worker_app
