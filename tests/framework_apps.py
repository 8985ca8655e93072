"""A Flask app and a Starlette app, as users run them, for the framework tests."""

import logging

import structlog
from flask import Flask
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

log = logging.getLogger("tests.framework")

flask_app = Flask(__name__)


@flask_app.route("/ctx")
def flask_ctx():
    structlog.get_logger("tests.framework").info("flask structlog line", framework="flask")
    log.info("flask stdlib line")
    return "ok\n"


@flask_app.route("/raise")
def flask_raise():
    raise KeyError("flask failed")


async def starlette_ctx(request):
    structlog.get_logger("tests.framework").info("starlette structlog line", framework="starlette")
    log.info("starlette stdlib line")
    return PlainTextResponse("ok\n")


async def starlette_raise(request):
    raise KeyError("starlette failed")


async def starlette_print(request):
    print("printed by starlette")
    return PlainTextResponse("ok\n")


starlette_app = Starlette(
    routes=[Route("/ctx", starlette_ctx), Route("/raise", starlette_raise), Route("/print", starlette_print)]
)
