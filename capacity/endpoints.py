"""The one rule for the URL of a service the tool talks to (an S3 archive): https, or plain
http on this machine only, so images and signed requests never cross a network in the
clear.  Pure: the model checks an inventory with it, the transports a target."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def check_endpoint(endpoint: str) -> str:
    """``endpoint`` without a trailing slash; ValueError if it is not an https URL, or
    http to a loopback address."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the endpoint {endpoint!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"the endpoint {endpoint!r} is plain HTTP off this machine; use"
                         " https (with ca_bundle for a private CA)")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"the endpoint {endpoint!r} names a path; give scheme, host and"
                         " port only")
    return endpoint.rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
