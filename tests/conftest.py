import pytest

from tests.gunicorn_process import Gunicorn


@pytest.fixture
def gunicorn(tmp_path):
    """Factory: ``gunicorn(*args, env=..., ...)`` starts a real gunicorn; all are stopped after the test."""
    started: list[Gunicorn] = []

    def start(*args, **kwargs) -> Gunicorn:
        workdir = tmp_path / f"server{len(started)}"
        workdir.mkdir()
        process = Gunicorn(workdir, *args, **kwargs)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
