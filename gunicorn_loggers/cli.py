"""The ``gunicorn-loggers`` command (also ``python -m gunicorn_loggers``).

``check`` tries a configuration before a deploy, ``conf`` hands out the shipped
conf files, ``pretty`` turns JSON lines back into lines a person reads.
"""

from __future__ import annotations

import argparse
import ast
import importlib.resources
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import BinaryIO

CONF_PACKAGE = "gunicorn_loggers.conf"
#: How often ``pretty -f`` looks for new lines at the end of a file.
FOLLOW_POLL = 0.25


def conf_files() -> dict[str, str]:
    """Shipped conf file name -> its source text."""
    files = {}
    for entry in importlib.resources.files(CONF_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".py") and not name.startswith("_"):
            files[name[:-3]] = entry.read_text(encoding="utf-8")
    return dict(sorted(files.items()))


def _summary(source: str) -> str:
    doc = ast.get_docstring(ast.parse(source)) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return first.removeprefix("Drop-in gunicorn.conf.py:").strip()


def run_conf(name: str | None) -> int:
    files = conf_files()
    if name is None:
        width = max(map(len, files))
        for conf, source in files.items():
            print(f"{conf.ljust(width)}  {_summary(source)}")
        print(f"\nUse one: gunicorn -c python:{CONF_PACKAGE}.NAME app:app")
        print("Copy one to edit: gunicorn-loggers conf NAME > gunicorn.conf.py")
        return 0
    name = name.removesuffix(".py")
    if name not in files:
        print(f"gunicorn-loggers conf: no conf file {name!r}; there are: {', '.join(files)}", file=sys.stderr)
        return 1
    sys.stdout.write(files[name])
    return 0


def _follow(stream: BinaryIO) -> Iterator[bytes]:
    """Lines of ``stream``, then the ones appended to it, like ``tail -f``, until interrupted."""
    pending = b""
    while True:
        chunk = stream.readline()
        if chunk:
            pending += chunk
            if pending.endswith(b"\n"):
                yield pending
                pending = b""
            continue
        time.sleep(FOLLOW_POLL)


def _inputs(paths: Sequence[str], follow: bool) -> Iterator[bytes]:
    if not paths:
        yield from (_follow(sys.stdin.buffer) if follow else sys.stdin.buffer)
        return
    for path in paths:
        with open(path, "rb") as stream:
            yield from (_follow(stream) if follow else stream)


def run_pretty(paths: Sequence[str], follow: bool, fields: Sequence[str], colour: str) -> int:
    from .pretty import PrettyPrinter

    use_colour = colour == "always" or (colour == "auto" and sys.stdout.isatty() and "NO_COLOR" not in os.environ)
    printer = PrettyPrinter(fields, colour=use_colour)
    out = sys.stdout
    try:
        for raw in _inputs(paths, follow):
            out.write(printer.line(raw) + "\n")
            if follow:
                out.flush()
    except OSError as exc:
        print(f"gunicorn-loggers pretty: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gunicorn-loggers", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="validate the configuration gunicorn would run with and send one test record",
        description="Takes gunicorn's own arguments (-c FILE, --logger-class, -e NAME=VALUE, ...).",
        add_help=False,
    )
    check.add_argument("gunicorn_args", nargs="*", metavar="GUNICORN_ARGS")
    conf = commands.add_parser("conf", help="list the shipped conf files, or print one")
    conf.add_argument("name", nargs="?")
    pretty = commands.add_parser("pretty", help="print JSON log lines as one concise line each")
    pretty.add_argument("files", nargs="*", help="files to read (default: stdin)")
    pretty.add_argument("-f", "--follow", action="store_true", help="keep reading lines appended to the input")
    pretty.add_argument("--fields", default="", help="comma-separated fields to add, e.g. url.path,client.ip")
    pretty.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["check"]:  # every later argument is gunicorn's, options included
        from .check import run_check

        return run_check(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "conf":
        return run_conf(args.name)
    fields = [name.strip() for name in args.fields.split(",") if name.strip()]
    return run_pretty(args.files, args.follow, fields, args.color)
