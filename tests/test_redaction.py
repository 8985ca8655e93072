"""Redaction on its own: request targets and URLs."""

import pytest

from gunicorn_loggers import load_settings
from gunicorn_loggers.redaction import QueryRedactor, redact_fragment, redact_target, redact_user_info
from gunicorn_loggers.request_facts import path_of_target

REDACT_QUERY = QueryRedactor(load_settings(env={}).redact_query)


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
