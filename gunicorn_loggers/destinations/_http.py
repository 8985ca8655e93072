"""What the HTTP destinations (HttpLogger's and OtlpLogger's) share: checking the URL and the CA file, the transport."""

from __future__ import annotations

import ssl
from typing import Any

from ..options import ConfigError


def check_ca_file(ca_file: str | None, option: str) -> str | None:
    """Load ``ca_file`` once to fail at start-up; each process then builds its own context."""
    from ..transports._tls import tls_context

    try:
        tls_context(ca_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{option}={ca_file!r}: cannot load the certificates: {exc.__class__.__name__}") from None
    return ca_file


def http_target(url: str, option: str, secrets: Any) -> Any:
    """The parsed URL; a ConfigError naming ``option`` (never the URL's credentials) when it is not one."""
    from ..transports.http_target import parse_http_url

    try:
        return parse_http_url(url, secrets)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def http_transport(destination: Any, body_format: Any) -> Any:
    """The HTTP transport of ``destination`` (its target, headers, TLS and timeouts) with ``body_format``."""
    from ..transports.http import HttpTransport

    return HttpTransport(
        destination.target,
        body_format,
        headers=destination.headers,
        gzip_body=destination.gzip_body,
        ca_file=destination.ca_file,
        connect_timeout=destination.connect_timeout,
        read_timeout=destination.read_timeout,
        secrets=destination.secrets,
    )
