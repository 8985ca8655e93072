"""Redaction on its own: targets, free text, what a client sent, and gunicorn's messages about it."""

import logging
import time

import pytest

from gunicorn_loggers import load_settings
from gunicorn_loggers.gunicorn_messages import GunicornMessageRedactor
from gunicorn_loggers.redaction import (
    QueryRedactor,
    RequestTextRedactor,
    redact_fragment,
    redact_target,
    redact_urls_in_text,
    redact_user_info,
)
from gunicorn_loggers.request_facts import address_without_port, path_of_target
from gunicorn_loggers.text import wsgi_repr

SETTINGS = load_settings(env={"GUNICORN_LOGGERS_REDACT_HEADERS": "x-api-key"})
REDACT_QUERY = QueryRedactor(SETTINGS.redact_query)
REDACT_REQUEST_TEXT = RequestTextRedactor(REDACT_QUERY, SETTINGS.redact_headers)
REDACT_MESSAGE = GunicornMessageRedactor(REDACT_REQUEST_TEXT)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/x?q=O'Brien&token=s", "/x?q=O'Brien&token=REDACTED"),
        ("/x?q=<b>&token=s&a=>", "/x?q=<b>&token=REDACTED&a=>"),
        ('/x?q="&token=s"', '/x?q="&token=REDACTED'),
        ("/x?q=a#b&token=s", "/x?q=a#b&token=REDACTED"),
        ("/x?q=1#access_token=s&state=2", "/x?q=1#access_token=REDACTED&state=2"),
        ("/x#access_token=s", "/x#access_token=REDACTED"),
        ("/x#acc%65ss_token=s", "/x#acc%65ss_token=REDACTED"),  # a percent-encoded name
        ("/x#token=s?page=1", "/x#token=REDACTED"),
        ("/x#", "/x#"),  # an empty fragment
        ("/x#top", "/x#top"),
        ("/x?", "/x?"),
        ("/x", "/x"),
        ("http://u:pw@host/x?token=s", "http://REDACTED:REDACTED@host/x?token=REDACTED"),
        ("https://user@host/", "https://REDACTED@host/"),  # user info with no password
        ("http://:pw@host", "http://REDACTED:REDACTED@host"),
        ("http://@host/", "http://@host/"),  # nothing to hide
        ("http://u:p@ss@host:8080/", "http://REDACTED:REDACTED@host:8080/"),  # the last "@" ends it
        ("http://u:pw@[2001:db8::1]:443/a", "http://REDACTED:REDACTED@[2001:db8::1]:443/a"),  # an IPv6 host
        ("http://[2001:db8::1]/a@b", "http://[2001:db8::1]/a@b"),  # "@" in the path is no user info
        ("http://u:pw#@host/", "http://REDACTED:REDACTED@host/"),  # the host is read as "host": hide the rest
        ("http://host#a=1", "http://host#a=1"),
        ("http://host/?next=a@b", "http://host/?next=a@b"),
        ("/mail/a@b.example", "/mail/a@b.example"),  # origin-form has no user info
        ("git+ssh://u:pw@host/repo", "git+ssh://REDACTED:REDACTED@host/repo"),
    ],
)
def test_redact_target(target, expected):
    assert redact_target(target, REDACT_QUERY) == expected


def test_user_info_and_fragment_on_their_own():
    assert redact_user_info("http://u:pw@host#x") == "http://REDACTED:REDACTED@host#x"
    assert redact_user_info("/u:pw@host") == "/u:pw@host"
    assert redact_fragment("/x?token=s", REDACT_QUERY) == "/x?token=s"  # the query is not its job
    assert redact_fragment("/x#a#token=s", REDACT_QUERY) == "/x#a#token=s"  # the fragment is "a#token=s"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?q=O'Brien&token=s", "GET /x?q=O'Brien&token=REDACTED"),
        ("'/x?q=<&token=s'", "'/x?q=<&token=REDACTED'"),  # the closing quote stays
        ('b"/x?token=s" and more', 'b"/x?token=REDACTED" and more'),
        ("'http://u:pw@h/'", "'http://REDACTED:REDACTED@h/'"),
        ("'/x?q=\\'&token=s\\x01'", "'/x?q=\\'&token=REDACTED'"),  # a repr's escapes are part of the word
        ("a?token=s b?token=t", "a?token=REDACTED b?token=REDACTED"),
        ("['/a?token=s', '/b?token=t']", "['/a?token=REDACTED', '/b?token=REDACTED']"),  # a list's repr
        ("(http://u:pw@h/?token=s)", "(http://REDACTED:REDACTED@h/?token=REDACTED"),  # no quote: ")" is the value's
        ("'/x?token=s'b,", "'/x?token=REDACTED"),  # after a quote, only punctuation is kept outside
        ("no url here", "no url here"),
        ("worker #3 up", "worker #3 up"),
    ],
)
def test_redact_urls_in_text(text, expected):
    assert redact_urls_in_text(text, REDACT_QUERY) == expected


def test_long_words_cost_one_scan():
    started = time.perf_counter()
    assert redact_urls_in_text("a" * 200_000 + " ?token=s", REDACT_QUERY).endswith("?token=REDACTED")
    assert redact_urls_in_text("?" * 200_000, REDACT_QUERY) == "?" * 200_000
    assert redact_urls_in_text("'?'a" * 50_000 + "'", REDACT_QUERY) == "'?'a" * 50_000 + "'"
    assert REDACT_REQUEST_TEXT("GET /?" + "a=1&" * 50_000 + " HTTP/1.1" * 1000).startswith("GET /?a=1&")
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?q=1&token=a b HTTP/1.1", "GET /x?q=1&token=REDACTED HTTP/1.1"),  # a value with a blank
        ("GET /x?token=a HTTP/1.1 HTTP/1.1", "GET /x?token=REDACTED HTTP/1.1"),
        ("GET /x?token=a b", "GET /x?token=REDACTED b"),  # no version: the target ends at the blank
        (
            "GET http://u:pw@h/#access_token=a HTTP/1.0",
            "GET http://REDACTED:REDACTED@h/#access_token=REDACTED HTTP/1.0",
        ),
        ("Authorization Bearer abc", "Authorization REDACTED"),
        ("authorization: Bearer abc", "authorization: REDACTED"),
        ("COOKIE:session=abc; b=c", "COOKIE:REDACTED"),
        ("Cookie session=abc", "Cookie REDACTED"),
        ("X-Api-Key \t k", "X-Api-Key \t REDACTED"),  # a header the settings add
        ("Authorization", "Authorization"),
        ("Authorization:", "Authorization:"),
        ("Host: example.com", "Host: example.com"),
        ("Referer: http://a/#access_token=z", "Referer: http://a/#access_token=REDACTED"),
        ("/x?token=a", "/x?token=REDACTED"),  # a target alone
        ("bare LF as line terminator", "bare LF as line terminator"),
        (
            "Host: x\r\nAuthorization: Bearer\r\n  folded-secret\r\nAccept: */*\r\n",
            "Host: x\r\nAuthorization: REDACTED\r\n  REDACTED\r\nAccept: */*\r\n",
        ),
        ("GET /?token=a HTTP/1.1\r\nCookie: c=1\r\n", "GET /?token=REDACTED HTTP/1.1\r\nCookie: REDACTED\r\n"),
    ],
)
def test_request_text(text, expected):
    assert REDACT_REQUEST_TEXT(text) == expected


def record(msg, *args, name="gunicorn.error"):
    return logging.LogRecord(name, logging.ERROR, "base.py", 1, msg, args or None, None)


@pytest.mark.parametrize(
    "target",
    ["/e?q=O'Brien&token=s", "/e?q=<b>&token=s", '/e?q="&token=s', "/e?q=a b&token=s", "/e?q=#&token=s"],
)
def test_error_handling_request_is_redacted_from_its_argument(target):
    item = record("Error handling request %s %s", "GET", target)
    message = REDACT_MESSAGE(item, item.getMessage())
    assert message == f"Error handling request GET {target[:-1]}REDACTED"
    item = record("Error handling request %s", target)
    assert REDACT_MESSAGE(item, item.getMessage()).endswith("&token=REDACTED")


def refusal(error: str) -> str:
    return "Invalid request from ip=127.0.0.1: " + error


def quoting(label: str, value: str | bytes) -> str:
    """As gunicorn's exceptions quote what they refuse (``"...: %r"``)."""
    return f"{label}: {value!r}"


CRLF = b"\r\n"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            refusal(quoting("Invalid HTTP request line", "GET /r?q=O'Brien&token=s\x01 HTTP/1.1")),
            refusal('Invalid HTTP request line: "GET /r?q=O\'Brien&token=REDACTED HTTP/1.1"'),
        ),
        (  # both quotes in the line: repr escapes its own
            refusal(quoting("Invalid HTTP request line", "GET /r?q=\"a'&token=s\\x\x01 b HTTP/1.1")),
            refusal("Invalid HTTP request line: 'GET /r?q=\"a\\'&token=REDACTED HTTP/1.1'"),
        ),
        (
            refusal(quoting("Invalid HTTP request line", "/r?a=1&token=s")),  # the target alone
            refusal("Invalid HTTP request line: '/r?a=1&token=REDACTED'"),
        ),
        (
            refusal(quoting("Invalid HTTP Header", "Authorization Bearer s")),
            refusal("Invalid HTTP Header: 'Authorization REDACTED'"),
        ),
        (
            refusal(quoting("Invalid HTTP header name", "Cookie session=s; b")),
            refusal("Invalid HTTP header name: 'Cookie REDACTED'"),
        ),
        (  # latin-1 as gunicorn decodes it: shown as UTF-8, other bytes as \xNN
            refusal(quoting("Invalid HTTP request line", "GET /caf\xc3\xa9/\xff HTTP/1.1")),
            refusal("Invalid HTTP request line: 'GET /café/\\xff HTTP/1.1'"),
        ),
        (
            refusal(quoting("Invalid HTTP Version", "HTTP/9.9")),
            refusal("Invalid HTTP Version: 'HTTP/9.9'"),
        ),
        (
            quoting(
                "Ignored premature client disconnection. No more data after",
                b"Host: x\r\nAuthorization: Bearer s\r\nX-Api-Key: k\r\n",
            ),
            "Ignored premature client disconnection. No more data after: "
            "b'Host: x\\r\\nAuthorization: REDACTED\\r\\nX-Api-Key: REDACTED\\r\\n'",
        ),
        (
            f"Expected HTTP/2 connection preface, got {b'GET /?token=s HTTP/1.1' + CRLF!r}",
            "Expected HTTP/2 connection preface, got b'GET /?token=REDACTED HTTP/1.1\\r\\n'",
        ),
        (refusal("Proxy request from '10.0.0.1' not allowed"), refusal("Proxy request from '10.0.0.1' not allowed")),
        (refusal("Invalid HTTP request line: 'unterminated"), refusal("Invalid HTTP request line: 'unterminated")),
        ("Worker said 'café'", "Worker said 'café'"),  # not a refusal: its text is not latin-1, left as it is
        ("Booting worker with pid: 42", "Booting worker with pid: 42"),
    ],
)
def test_gunicorn_messages(message, expected):
    assert REDACT_MESSAGE(record(message), message) == expected


def test_a_message_that_is_not_text_is_left_to_the_formatter():
    item = record({"event": "x"})
    assert REDACT_MESSAGE(item, "{'event': 'x'}") == "{'event': 'x'}"


def test_a_message_quoting_what_it_does_not_end_with_falls_back_to_words():
    item = record("Error handling request %s %s", "GET", "/a?token=s")
    changed = "changed: GET /a?token=s (by a processor)"
    assert REDACT_MESSAGE(item, changed) == "changed: GET /a?token=REDACTED (by a processor)"


@pytest.mark.parametrize(
    ("latin1", "expected"),
    [
        ("/caf\xc3\xa9", "'/café'"),
        ("/\xff\xfe", "'/\\xff\\xfe'"),
        ("back\\slash \\udcff", "'back\\\\slash \\\\udcff'"),  # the client's own backslashes stay escaped
        ("O'Brien", '"O\'Brien"'),
        ("\x01\t", "'\\x01\\t'"),
        ("\u0100", "'\u0100'"),  # not latin-1 at all: as repr() has it
    ],
)
def test_wsgi_repr(latin1, expected):
    assert wsgi_repr(latin1) == expected


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("203.0.113.7:5000", "203.0.113.7"),
        ("203.0.113.7:0", "203.0.113.7"),
        ("203.0.113.7:65535", "203.0.113.7"),
        ("203.0.113.7:65536", None),
        ("203.0.113.7:99999", None),
        ("203.0.113.7:" + "9" * 5000, None),  # longer than int() takes: not a port either
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]:99999", None),
        ("[2001:db8::1]", "2001:db8::1"),
        ("203.0.113.7:", None),
    ],
)
def test_forwarded_entry_with_a_port(hop, address):
    assert address_without_port(hop) == address


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/a/b", "/a/b"),
        ("/a#access_token=x", "/a"),
        ("http://u:pw@host:81/a/b", "/a/b"),
        ("http://host", ""),
        ("*", "*"),
    ],
)
def test_path_of_target(target, path):
    assert path_of_target(target) == path
