"""Hostile and broken requests: every record stays one valid JSON object, nothing forged."""

import json
import socket

import pytest


def raw_request(target: bytes, headers: list[bytes] = ()) -> bytes:
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1", *headers, b"Connection: close", b"", b""]
    return b"\r\n".join(lines)


@pytest.fixture
def server(gunicorn):
    return gunicorn()


def test_invalid_utf8_in_path_and_query_is_kept_escaped(server):
    answer = server.raw(raw_request(b"/caf%C3%A9/%FF%FE?q=%FF&name=caf%C3%A9"))
    assert answer.startswith(b"HTTP/1.1 200")
    (record,) = server.wait_for_access(1)
    assert record["url"]["path"] == "/café/\\xff\\xfe"
    assert record["url"]["original"] == "/caf%C3%A9/%FF%FE?q=%FF&name=caf%C3%A9"
    assert record["url"]["query"] == "q=%FF&name=caf%C3%A9"


def test_raw_non_utf8_bytes_in_headers_are_escaped_not_dropped(server):
    answer = server.raw(raw_request(b"/", [b"User-Agent: bad \xff\xfe bytes \xc3\xa9", b"Referer: http://x/\xe9"]))
    assert answer.startswith(b"HTTP/1.1 200")
    (record,) = server.wait_for_access(1)
    assert record["user_agent"]["original"] == "bad \\xff\\xfe bytes é"
    assert record["http"]["request"]["referrer"] == "http://x/\\xe9"


@pytest.mark.parametrize("schema", ["ecs", "otel"])  # the schemas that split the Host header
def test_a_host_port_of_unicode_digits_cannot_hide_the_request(gunicorn, schema):
    """ "²" passes str.isdigit() and int() refuses it: the record used to be lost, with a traceback."""
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": schema})
    answer = server.raw(b"GET /sup HTTP/1.1\r\nHost: example.com:\xc2\xb2\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
    (record,) = server.wait_for_access(1)
    assert "/sup" in json.dumps(record) and '"example.com"' in json.dumps(record)
    assert "could not write an access record" not in server.all_output()


def test_quotes_and_backslashes_cannot_forge_fields(server):
    forged = 'x", "forged": true, "log.level": "critical", "a": "\\'
    server.request("/", headers={"User-Agent": forged, "X-Request-ID": 'id"},"forged":1'})
    (record,) = server.wait_for_access(1)
    assert "forged" not in record
    assert record["log.level"] == "info"
    assert record["user_agent"]["original"] == forged
    assert record["http"]["request"]["id"] == 'id"},"forged":1'


def test_request_id_with_spaces_or_non_ascii_is_left_out(server):
    server.request("/", headers={"X-Request-ID": "two words"})
    server.raw(raw_request(b"/", [b"X-Request-ID: caf\xc3\xa9"]))
    records = server.wait_for_access(2)
    assert all("id" not in r["http"]["request"] for r in records)


def test_escape_and_control_characters_in_headers(server):
    # gunicorn refuses control characters in header values; its warning is a JSON record too.
    answer = server.raw(raw_request(b"/", [b"User-Agent: esc \x1b[31m red"]))
    assert answer.startswith(b"HTTP/1.1 400")
    warnings = server.wait_for(lambda: [r for r in server.error_records() if "Invalid HTTP Header" in r["message"]])
    assert warnings[0]["log.level"] == "warning"
    server.raw(raw_request(b"/", [b"User-Agent: tab\tinside \\ backslash"]))
    (record,) = server.wait_for_access(1)
    assert record["user_agent"]["original"] == "tab\tinside \\ backslash"


def test_cr_lf_cannot_split_a_record(server):
    # A bare CR inside a value is rejected by gunicorn (400); the access record of that refusal is still one line.
    answer = server.raw(raw_request(b"/", [b"User-Agent: a\rb", b"X-Injected: 1"]))
    assert answer.startswith(b"HTTP/1.1 400")
    server.raw(raw_request(b"/after"))
    records = server.wait_for(lambda: [r for r in server.access_records() if r["url"]["original"] == "/after"])
    assert len(records) == 1
    for line in server.access_path.read_bytes().splitlines():
        assert line.startswith(b"{") and line.endswith(b"}")


def test_long_request_line_and_8k_header(server):
    target = b"/" + b"a" * 3990 + b"?q=" + b"b" * 87  # request line of 4094 bytes: gunicorn's limit
    big_header = b"X-Big: " + b"v" * (8180 - len(b"X-Big: "))  # under limit_request_field_size (8190)
    answer = server.raw(raw_request(target, [big_header, b"User-Agent: big"]))
    assert answer.startswith(b"HTTP/1.1 200")
    (record,) = server.wait_for_access(1)
    assert record["url"]["original"] == target.decode()
    assert len(record["url"]["path"]) == 3991


def test_request_over_gunicorn_limits_is_answered_and_logged(server):
    answer = server.raw(raw_request(b"/" + b"a" * 9000))
    assert answer.startswith(b"HTTP/1.1 414")
    # gunicorn has no request object here and calls no access(); its warning is one JSON record.
    warnings = server.wait_for(lambda: [r for r in server.error_records() if "too large" in r["message"]])
    assert warnings[0]["log.level"] == "warning"


def test_app_exception_gives_a_500_record_and_an_error_record_with_the_traceback(server):
    status, _ = server.request("/raise")
    assert status == 500
    (access,) = server.wait_for_access(1)
    assert access["http"]["response"]["status_code"] == 500
    assert access["log.level"] == "error" and access["event"]["outcome"] == "failure"
    assert access["url"]["path"] == "/raise"
    errors = server.wait_for(lambda: [r for r in server.error_records() if "error" in r])
    (error,) = errors
    assert error["log.level"] == "error"
    assert error["error"]["type"] == "ValueError"
    assert error["error"]["message"] == "boom from the app"
    assert "Traceback (most recent call last)" in error["error"]["stack_trace"]
    assert 'raise ValueError("boom from the app")' in error["error"]["stack_trace"]


def test_malformed_request_line_gives_a_json_warning(server):
    answer = server.raw(b"NOT A REQUEST\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    warnings = server.wait_for(lambda: [r for r in server.error_records() if "Invalid request" in r["message"]])
    assert warnings[0]["log.level"] == "warning"


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp", "flat"])
def test_query_secrets_never_reach_gunicorns_own_messages(gunicorn, schema):
    """gunicorn quotes the target in "Error handling request" and the request lines it refuses."""
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": schema})
    assert server.request("/raise?password=hunter2&page=2")[0] == 500
    assert server.raw(b"GET /login?token=LINESECRET\x01 HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    messages = server.wait_for(
        lambda: (
            len(texts := [json.dumps(r) for r in server.error_records() if "request" in json.dumps(r)]) >= 2 and texts
        ),
        what="the error and the warning",
    )
    assert any("/raise?password=REDACTED&page=2" in text for text in messages)
    assert any("/login?token=REDACTED" in text for text in messages)
    everything = server.stdout_path.read_text() + server.stderr_path.read_text()
    assert "hunter2" not in everything and "LINESECRET" not in everything


def test_a_redact_headers_list_adds_to_the_credentials_it_never_replaces(gunicorn):
    server = gunicorn(
        env={
            "GUNICORN_LOGGERS_REDACT_HEADERS": "x-api-key",
            "GUNICORN_LOGGERS_REQUEST_HEADERS": "authorization,cookie,x-api-key,proxy-authorization,accept",
        }
    )
    headers = [b"Authorization: Bearer AUTHSECRET", b"Cookie: c=COOKIESECRET", b"X-Api-Key: KEYSECRET",
               b"Proxy-Authorization: Basic PROXYSECRET", b"Accept: a/b"]  # fmt: skip
    assert server.raw(raw_request(b"/", headers)).startswith(b"HTTP/1.1 200")
    (record,) = server.wait_for_access(1)
    captured = record["http"]["request"]["headers"]
    assert captured == {
        "authorization": ["REDACTED"], "cookie": ["REDACTED"], "x-api-key": ["REDACTED"],
        "proxy-authorization": ["REDACTED"], "accept": ["a/b"],
    }  # fmt: skip
    assert "SECRET" not in server.stdout_path.read_text() + server.stderr_path.read_text()


@pytest.mark.parametrize("schema", ["ecs", "gcp"])
def test_an_absolute_form_target_names_the_host(gunicorn, schema):
    """A proxy's request names the URL in its request line; its authority wins over Host (RFC 9112 3.2.2)."""
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": schema})
    raw = b"GET http://abs.example:8080/abs?x=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"
    assert server.raw(raw).startswith(b"HTTP/1.1 200")
    (record,) = server.wait_for_access(1)
    if schema == "ecs":
        assert record["url"]["original"] == "http://abs.example:8080/abs?x=1" and record["url"]["path"] == "/abs"
        assert record["url"]["domain"] == "abs.example" and record["url"]["port"] == 8080
    else:
        assert record["httpRequest"]["requestUrl"] == "http://abs.example:8080/abs?x=1"


def send_and_hang_up(server, data: bytes) -> None:
    """Send part of a request, then close our side: gunicorn reads to the end of the data and gives up."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        for _ in range(100):  # until gunicorn closes too
            try:
                if not sock.recv(65536):
                    break
            except OSError:
                break


def message_of(record: dict) -> str:
    """The message of a record of any schema (OpenTelemetry's is the body of its one log record)."""
    if "resourceLogs" in record:
        return record["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"]["stringValue"]
    return record["message"]


def logged_text(server) -> str:
    return server.error_path.read_text() + server.access_path.read_text() + server.all_output()


@pytest.mark.parametrize("worker", ["sync", "gthread"])
def test_every_query_parameter_gunicorn_quotes_is_redacted(gunicorn, worker):
    """Whatever the values before it hold (quotes, <, a blank, #), no parameter escapes the redactor."""
    server = gunicorn("-k", worker)
    errors = [b"/raise?q=O'Brien&token=S3CRET1", b"/raise?q=<b>&token=S3CRET2", b"/raise?q=%22&x=#&token=S3CRET3"]
    for target in errors:
        assert server.raw(raw_request(target)).startswith(b"HTTP/1.1 500")
    refused = [
        b"/r?q=O'Brien&token=S3CRET4\x01",  # repr in double quotes
        b"/r?q=\"a'&token=S3CRET5\x01",  # both quotes: repr escapes its own
        b"/r?q=<\x01&token=S3CRET6 and more",  # a value with blanks, up to HTTP/
    ]
    for target in refused:
        assert server.raw(raw_request(target)).startswith(b"HTTP/1.1 400")
    messages = server.wait_for(
        lambda: (
            (len(found := [r["message"] for r in server.error_records() if "request" in r["message"]]) >= 6) and found
        ),
        what="three errors and three refusals",
    )
    assert "Error handling request GET /raise?q=O'Brien&token=REDACTED" in messages
    assert "Error handling request GET /raise?q=<b>&token=REDACTED" in messages
    assert "Error handling request GET /raise?q=%22&x=#&token=REDACTED" in messages
    refusals = [m.partition("Invalid HTTP request line: ")[2] for m in messages if "request line" in m]
    assert refusals == [
        '"GET /r?q=O\'Brien&token=REDACTED HTTP/1.1"',
        "'GET /r?q=\"a\\'&token=REDACTED HTTP/1.1'",
        "'GET /r?q=<\\x01&token=REDACTED HTTP/1.1'",
    ]
    assert "S3CRET" not in logged_text(server)


def test_secret_headers_gunicorn_quotes_are_redacted(gunicorn):
    """A malformed header line is quoted whole; a disconnection quotes the headers read so far (debug)."""
    server = gunicorn("--log-level", "debug", env={"GUNICORN_LOGGERS_REDACT_HEADERS": "x-api-key"})
    for line in [b"Authorization Bearer S3CRET1", b"Cookie session=S3CRET2", b"Authorization Bearer S3CRET3:x"]:
        assert server.raw(raw_request(b"/", [line])).startswith(b"HTTP/1.1 400")
    send_and_hang_up(server, b"GET / HTTP/1.1\r\nAuthorization: Bearer S3CRET4\r\nX-Api-Key: S3CRET5\r\n")
    messages = server.wait_for(
        lambda: (
            len(found := [r["message"] for r in server.error_records() if "Invalid HTTP" in r["message"]]) >= 3
            and any("No more data" in r["message"] for r in server.error_records())
            and found
        ),
        what="three refusals and the disconnection",
    )
    assert [m.partition("from ip=127.0.0.1: ")[2] for m in messages] == [
        "Invalid HTTP Header: 'Authorization REDACTED'",
        "Invalid HTTP Header: 'Cookie REDACTED'",
        "Invalid HTTP header name: 'Authorization REDACTED'",
    ]
    (hung_up,) = [r["message"] for r in server.error_records() if "No more data" in r["message"]]
    assert hung_up.endswith("b'Authorization: REDACTED\\r\\nX-Api-Key: REDACTED\\r\\n'")
    assert "S3CRET" not in logged_text(server)


@pytest.mark.parametrize("schema", ["ecs", "otel", "gcp", "flat"])
def test_user_info_of_an_absolute_form_target_never_reaches_a_record(gunicorn, schema):
    """As OpenTelemetry's url.full asks: http://REDACTED:REDACTED@host/, in every field and message."""
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": schema})
    assert server.raw(raw_request(b"http://alice:PASSWORD1@abs.example/ok?a=1")).startswith(b"HTTP/1.1 200")
    assert server.raw(raw_request(b"http://bob:PASSWORD2@abs.example/raise")).startswith(b"HTTP/1.1 500")
    assert server.raw(raw_request(b"http://carol@abs.example/r\x01")).startswith(b"HTTP/1.1 400")
    records = server.wait_for_access(2)
    assert "http://REDACTED:REDACTED@abs.example/ok?a=1" in json.dumps(records[0])
    if schema in ("ecs", "otel", "flat"):
        assert '"/raise"' in json.dumps(records[1])  # the path of an app's failure, without the authority
    messages = server.wait_for(
        lambda: (len(found := [m for m in map(message_of, server.error_records()) if "request" in m]) >= 2) and found,
        what="the error and the refusal",
    )
    assert "Error handling request GET http://REDACTED:REDACTED@abs.example/raise" in messages
    assert any(m.endswith("'GET http://REDACTED@abs.example/r\\x01 HTTP/1.1'") for m in messages)
    text = logged_text(server)
    assert "PASSWORD" not in text and "alice" not in text and "bob" not in text and "carol" not in text


@pytest.mark.parametrize("schema", ["ecs", "otel"])
def test_fragment_parameters_are_redacted_in_targets_and_referrers(gunicorn, schema):
    server = gunicorn(env={"GUNICORN_LOGGERS_SCHEMA": schema, "GUNICORN_LOGGERS_REQUEST_HEADERS": "referer"})
    referer = b"Referer: https://app.example/cb#access_token=S3CRET1&token_type=bearer"
    assert server.raw(raw_request(b"/ok", [referer])).startswith(b"HTTP/1.1 200")
    assert server.raw(raw_request(b"/ok#id_token=S3CRET2&state=1")).startswith(b"HTTP/1.1 200")
    assert server.raw(raw_request(b"/raise#id_token=S3CRET3")).startswith(b"HTTP/1.1 500")
    records = server.wait_for_access(3)
    texts = [json.dumps(record) for record in records]
    assert texts[0].count("https://app.example/cb#access_token=REDACTED&token_type=bearer") == (
        2 if schema == "ecs" else 1  # ECS: the referrer and the captured header; OTel: one attribute
    )
    assert "/ok#id_token=REDACTED&state=1" in texts[1]
    assert "/raise#id_token=REDACTED" in texts[2] and '"/raise"' in texts[2]
    server.wait_for(lambda: any("Error handling" in message_of(r) for r in server.error_records()), what="the error")
    assert "S3CRET" not in logged_text(server)


def test_a_forwarded_entry_with_a_port_over_65535_is_no_address(gunicorn):
    """Like any malformed entry, it ends the walk: the client is the trusted proxy that sent it."""
    server = gunicorn()
    for hop in [b"203.0.113.7:65535", b"203.0.113.8:99999", b"[2001:db8::9]:65536"]:
        assert server.raw(raw_request(b"/", [b"X-Forwarded-For: " + hop])).startswith(b"HTTP/1.1 200")
    records = server.wait_for_access(3)
    assert [r["client"]["address"] for r in records] == ["203.0.113.7", "127.0.0.1", "127.0.0.1"]


def test_a_refused_request_line_shows_utf8_as_the_access_fields_do(gunicorn):
    """gunicorn decodes the line as latin-1 (/cafÃ©); the message shows é, and other bytes as \\xNN."""
    server = gunicorn()
    assert server.raw(raw_request(b"/caf\xc3\xa9/\xff?token=S3CRET")).startswith(b"HTTP/1.1 400")
    (message,) = server.wait_for(
        lambda: [r["message"] for r in server.error_records() if "Invalid request" in r["message"]]
    )
    assert message.endswith("Invalid HTTP request line: 'GET /café/\\xff?token=REDACTED HTTP/1.1'")
