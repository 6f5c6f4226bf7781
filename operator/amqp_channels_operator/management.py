"""A small client of the RabbitMQ management HTTP API: just the calls the reconcile makes.

Every request has a bounded timeout. Failures are sorted for the caller: no answer, a
timeout or a 5xx is ``Temporary`` (retry with backoff); 401/403 is ``Unauthorized``, an https
certificate that does not verify ``UntrustedCertificate`` and any other 4xx ``Permanent``
(the message carries the broker's reason). A 404 on a GET is not an
error: it means "absent" and returns None.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from .errors import OperatorError, Permanent, Temporary, Unauthorized, UntrustedCertificate

TIMEOUT = 10.0


def _segment(name: str) -> str:
    """One path segment: vhost and object names may hold '/' (the default vhost is '/')."""
    return quote(name, safe="")


class Management:
    """The management API at ``url`` (``http(s)://host:15672``), as an administrator."""

    def __init__(self, url: str, username: str, password: str, *,
                 ca_data: str | None = None, timeout: float = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self._auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._timeout = timeout
        self._ssl = ssl.create_default_context(cadata=ca_data) if ca_data else None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call; the decoded JSON reply (None when empty, or for a GET that found
        nothing). Raises ``Temporary`` or ``Permanent``."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", self._auth)
        req.add_header("Content-Type", "application/json")
        where = f"{method} {self.url}{path}"
        try:
            with urllib.request.urlopen(req, timeout=self._timeout, context=self._ssl) as resp:
                reply = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and method == "GET":
                return None
            raise _http_error(where, exc) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):  # no retry will fix it
                raise UntrustedCertificate(
                    f"{where}: the certificate is not trusted ({exc.reason.verify_message}); "
                    "give the CA that signed it (spec.management.caSecretRef, --ca-file)"
                ) from exc
            raise Temporary(f"{where}: no answer from the management API ({exc})") from exc
        except (TimeoutError, ConnectionError) as exc:
            raise Temporary(f"{where}: no answer from the management API ({exc})") from exc
        return json.loads(reply) if reply else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def put(self, path: str, body: Any) -> None:
        self.request("PUT", path, body)

    def delete(self, path: str) -> bool:
        """DELETE ``path``; False when it was already gone."""
        try:
            self.request("DELETE", path)
        except Permanent as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # The objects the operator owns, by kind.

    def vhost_path(self, vhost: str) -> str:
        return f"/api/vhosts/{_segment(vhost)}"

    def user_path(self, user: str) -> str:
        return f"/api/users/{_segment(user)}"

    def permissions_path(self, vhost: str, user: str) -> str:
        return f"/api/permissions/{_segment(vhost)}/{_segment(user)}"

    def policy_path(self, vhost: str, name: str) -> str:
        return f"/api/policies/{_segment(vhost)}/{_segment(name)}"

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        """Name and ready-message count of every queue in ``vhost``."""
        return self.get(f"/api/queues/{_segment(vhost)}?columns=name,messages_ready") or []


def _http_error(where: str, exc: urllib.error.HTTPError) -> OperatorError:
    try:
        reason = json.loads(exc.read() or b"{}").get("reason", exc.reason)
    except (ValueError, AttributeError):
        reason = exc.reason
    message = f"{where}: HTTP {exc.code}: {reason}"
    if exc.code >= 500:
        return Temporary(message, status=exc.code)
    if exc.code in (401, 403):
        return Unauthorized(message, status=exc.code)
    return Permanent(message, status=exc.code)
