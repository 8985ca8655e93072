"""The shipped drop-in ``gunicorn.conf.py`` files, one module each.

After ``pip install gunicorn-loggers``: ``gunicorn -c python:gunicorn_loggers.conf.json app:app``;
in a checkout: ``gunicorn -c conf/json.py app:app``. ``gunicorn-loggers conf`` lists them.
"""
