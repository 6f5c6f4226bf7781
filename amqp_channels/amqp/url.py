"""Parse ``amqp://`` and ``amqps://`` URLs into connection parameters.

Why separate: the URL rules (percent-decoding, the default vhost, query overrides) are easy
to get subtly wrong and worth testing without a broker. Validation happens here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ConnectionParams", "parse_url"]


@dataclass(frozen=True, slots=True)
class ConnectionParams:
    """Where and as whom to connect."""

    host: str
    port: int
    vhost: str
    username: str
    password: str
    tls: bool
    heartbeat: int

    @property
    def address(self) -> str:
        """``host:port`` for error messages (never the credentials)."""
        return f"{self.host}:{self.port}"


def parse_url(url: str, *, heartbeat: int) -> ConnectionParams:
    """Parse ``url``; a ``heartbeat=N`` query parameter overrides ``heartbeat``."""
    parts = urlsplit(url)
    if parts.scheme not in ("amqp", "amqps"):
        raise ValueError(f"expected an amqp:// or amqps:// URL, got {parts.scheme!r}")
    tls = parts.scheme == "amqps"
    query = parse_qs(parts.query)
    if "heartbeat" in query:
        try:
            heartbeat = int(query["heartbeat"][-1])
        except ValueError:
            raise ValueError(
                f"heartbeat in the URL must be an integer, got {query['heartbeat'][-1]!r}"
            ) from None
    if not 0 <= heartbeat <= 65535:
        raise ValueError(f"heartbeat must be between 0 and 65535 seconds, got {heartbeat}")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return ConnectionParams(
        host=parts.hostname or "localhost",
        port=parts.port or (5671 if tls else 5672),
        vhost=unquote(path) if path else "/",
        username=unquote(parts.username) if parts.username is not None else "guest",
        password=unquote(parts.password) if parts.password is not None else "guest",
        tls=tls,
        heartbeat=heartbeat,
    )
