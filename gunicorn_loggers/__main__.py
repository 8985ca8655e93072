"""``python -m gunicorn_loggers``: the ``gunicorn-loggers`` command."""

import sys

from .cli import main

sys.exit(main())
