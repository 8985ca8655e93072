"""What ``pip install`` and the source archive give a user: built, checked and used as they come."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.gunicorn_process import REPO, free_port, wait_until

DEMO_APP = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\\n"]
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist, and the wheel built from it (``python -m build`` builds the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def _only(dist: Path, pattern: str) -> Path:
    (found,) = dist.glob(pattern)
    return found


def test_twine_accepts_both_archives(dist):
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_the_sdist_holds_what_the_demo_and_the_tests_need(dist):
    sdist = _only(dist, "gunicorn_loggers-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in (
        "LICENSE",
        "CHANGELOG.md",
        "README.md",
        "conf/json.py",
        "conf/__init__.py",
        "demo/app.py",
        "tests/conftest.py",
        "tests/run.sh",
        "tests/receivers/__init__.py",
        "tests/gunicorn_process.py",
        "tests/ecs_spec/http.yml",
        "gunicorn_loggers/py.typed",
    ):
        assert needed in names, needed
    assert not [name for name in names if "__pycache__" in name]


def test_the_wheel_installs_the_conf_files_as_a_package_with_metadata(dist):
    wheel = _only(dist, "gunicorn_loggers-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata_name = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
        entry_points = archive.read(metadata_name.replace("METADATA", "entry_points.txt")).decode()
    conf_files = {p.name for p in (REPO / "conf").glob("*.py")}
    assert {f"gunicorn_loggers/conf/{name}" for name in conf_files} <= names
    assert "gunicorn_loggers/py.typed" in names
    assert any(name.endswith(".dist-info/LICENSE") or "/licenses/LICENSE" in name for name in names)
    assert not [name for name in names if name.startswith(("tests/", "demo/", "conf/"))]
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    assert "Classifier: Topic :: System :: Logging" in metadata
    assert "Project-URL: Source" in metadata
    assert "gunicorn-loggers = gunicorn_loggers.cli:main" in entry_points
    assert "json = gunicorn_loggers:JsonLogger" in entry_points


def test_a_plain_install_runs_gunicorn_with_a_shipped_conf_from_any_directory(dist, tmp_path):
    """``pip install`` (not editable), then ``gunicorn -c python:gunicorn_loggers.conf.json`` elsewhere."""
    target = tmp_path / "site"
    wheel = _only(dist, "gunicorn_loggers-*.whl")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target)]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=120)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "demo_app.py").write_text(DEMO_APP)
    # The installed copy, not the checkout: gunicorn and the other dependencies come from this venv.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_LOGGERS_")}
    env["PYTHONPATH"] = str(target)
    where = subprocess.run(
        [sys.executable, "-c", "import gunicorn_loggers.conf.json as c; print(c.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert where.stdout.decode().strip() == str(target / "gunicorn_loggers" / "conf" / "json.py")
    listing = subprocess.run(
        [sys.executable, str(target / "bin" / "gunicorn-loggers"), "conf"], cwd=elsewhere, env=env, capture_output=True
    )
    assert listing.returncode == 0 and b"json " in listing.stdout
    port = free_port()
    stdout, stderr = (elsewhere / "stdout.log").open("wb"), (elsewhere / "stderr.log").open("wb")
    command = [sys.executable, "-m", "gunicorn", "-c", "python:gunicorn_loggers.conf.json"]
    proc = subprocess.Popen(
        [*command, "--bind", f"127.0.0.1:{port}", "--no-control-socket", "demo_app:app"],
        cwd=elsewhere,
        env=env,
        stdout=stdout,
        stderr=stderr,
    )
    try:

        def answered() -> bool:
            if proc.poll() is not None:
                raise AssertionError((elsewhere / "stderr.log").read_text())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/installed?token=abc", timeout=2) as answer:
                    return answer.status == 200
            except OSError:
                return False

        wait_until(answered, timeout=30, what="gunicorn from the installed package")
        deadline = time.monotonic() + 10
        while b"/installed" not in (elsewhere / "stdout.log").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)
        stdout.close()
        stderr.close()
    access = [json.loads(line) for line in (elsewhere / "stdout.log").read_text().splitlines()]
    (record,) = [r for r in access if r["url"]["path"] == "/installed"]
    assert record["url"]["query"] == "token=REDACTED" and record["http"]["response"]["status_code"] == 200
    errors = [json.loads(line) for line in (elsewhere / "stderr.log").read_text().splitlines()]
    assert any(r["message"].startswith("Booting worker") for r in errors)


def test_the_tests_run_from_the_unpacked_sdist(dist, tmp_path):
    with tarfile.open(_only(dist, "gunicorn_loggers-*.tar.gz")) as archive:
        archive.extractall(tmp_path, filter="data")
    (unpacked,) = tmp_path.glob("gunicorn_loggers-*")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUNICORN_LOGGERS_")}
    env["PYTHONPATH"] = str(unpacked)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cli.py", "-k", "conf or pretty"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        timeout=300,
    )
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert " passed" in out and "error" not in out.lower().split("passed")[-1]
