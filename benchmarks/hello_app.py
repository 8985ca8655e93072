"""The smallest useful WSGI app, for measuring what the access log costs per request.

``gunicorn benchmarks.hello_app:app`` from the repository root.
"""

BODY = b"Hello, World!\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
