import pytest

from tests.gunicorn_process import Gunicorn
from tests.receivers import NetworkGunicorn


def _factory(tmp_path, make):
    """``start(*args, start=True, **kwargs)``: a process from ``make`` in a directory of its own."""
    started: list[Gunicorn] = []

    def start(*args, start: bool = True, **kwargs) -> Gunicorn:
        workdir = tmp_path / f"server{len(started)}"
        workdir.mkdir()
        process = make(workdir, *args, **kwargs)
        started.append(process)
        return process.start() if start else process

    return start, started


@pytest.fixture
def gunicorn(tmp_path):
    """Factory: ``gunicorn(*args, env=..., ...)`` starts a real gunicorn; all are stopped after the test."""
    start, started = _factory(tmp_path, Gunicorn)
    yield start
    for process in started:
        process.stop()


def _network_gunicorn(workdir, *args, env=None, **kwargs) -> NetworkGunicorn:
    kwargs.setdefault("access_log", False)
    environment = {"GUNICORN_LOGGERS_REPORT_INTERVAL": "1", **(env or {})}
    return NetworkGunicorn(workdir, *args, env=environment, **kwargs)


@pytest.fixture
def network_gunicorn(tmp_path):
    """Factory: ``network_gunicorn(*args, receiver=..., logger_class=..., env=..., start=True)``.

    A gunicorn with one of our network loggers: reports every second, no local access
    log unless asked; all are stopped after the test.
    """
    start, started = _factory(tmp_path, _network_gunicorn)
    yield start
    for process in started:
        process.stop()
