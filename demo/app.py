"""A small WSGI app to try gunicorn-loggers with: ``gunicorn -c conf/json.py demo.app:app``."""

import logging

log = logging.getLogger("demo")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/error":
        raise RuntimeError("the demo app failed on purpose")
    log.info("handled %s", path, extra={"user_id": 42})
    body = b"hello from gunicorn-loggers\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
