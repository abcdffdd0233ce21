"""A Prometheus server's HTTP API, read only: instant queries (``GET /api/v1/query``).

Python's own ``urllib`` and ``ssl``; TLS is always verified (against ``ca_bundle`` when
given, else the system's CAs).  Failures are :class:`~capacity.transports.TransportError`
subclasses naming the server: unreachable, an answer that is not the API's, or a query the
server refused.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from capacity.transports.base import ConnectionLost, TransportError


@dataclass(frozen=True, slots=True)
class Sample:
    """One series of an instant vector: its labels, its value, and when it was taken."""

    labels: dict[str, str]
    value: Decimal
    """Exactly as the server wrote it (a float's shortest decimal form)."""
    timestamp: float
    """POSIX seconds of the sample."""


def label_matcher(value: str) -> str:
    """``value`` as a PromQL double-quoted string (backslash and quote escaped)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class PrometheusClient:
    """Instant queries against ``url`` (``https://HOST[:PORT]``, or http on loopback)."""

    def __init__(self, url: str, *, ca_bundle: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.host = urllib.parse.urlsplit(self.url).netloc
        self.timeout = timeout
        self._tls: ssl.SSLContext | None = None
        if self.url.startswith("https://"):
            try:
                self._tls = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise TransportError(f"{self.host}: cannot read the CA bundle {ca_bundle}:"
                                     f" {exc}", host=self.host) from None

    def query(self, expr: str) -> list[Sample]:
        """The instant vector ``expr`` evaluates to now."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout,
                                        context=self._tls) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as exc:
            raise TransportError(f"{self.host}: the query {expr!r} was refused:"
                                  f" HTTP {exc.code} {_error(exc)}", host=self.host) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ConnectionLost(f"{self.host}: Prometheus cannot be reached: {reason}",
                                 host=self.host) from None
        except ValueError:
            raise TransportError(f"{self.host}: the answer to {expr!r} is not JSON",
                                  host=self.host) from None
        return self._vector(expr, body)

    def _vector(self, expr: str, body: Any) -> list[Sample]:
        try:
            if body["status"] != "success":
                raise TransportError(f"{self.host}: the query {expr!r} failed:"
                                      f" {body.get('error', body['status'])}", host=self.host)
            data = body["data"]
            if data["resultType"] != "vector":
                raise TransportError(f"{self.host}: {expr!r} gave a {data['resultType']},"
                                      " not an instant vector", host=self.host)
            return [Sample({str(k): str(v) for k, v in r["metric"].items()},
                           Decimal(r["value"][1]), float(r["value"][0]))
                    for r in data["result"]]
        except (KeyError, TypeError, IndexError, InvalidOperation, AttributeError):
            raise TransportError(f"{self.host}: the answer to {expr!r} is not in the shape"
                                  " of Prometheus' HTTP API", host=self.host) from None


def _error(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(exc).get("error", ""))
    except (ValueError, AttributeError, OSError):
        return ""
