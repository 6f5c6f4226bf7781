"""The operator's error vocabulary: what a retry may fix, and what it never will.

``Temporary`` (the broker or its management API is down, slow, or answers 5xx) is retried
with backoff; ``Permanent`` (bad credentials, a spec the broker or we refuse) is reported on
the resource's status and waits for someone to change something. Causes are always chained.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base class; ``reason`` is a CamelCase word for the status condition."""

    reason = "Error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status that caused it, if any


class Temporary(OperatorError):
    """Retrying later may succeed: connection refused, timeout, 5xx."""

    reason = "BrokerUnavailable"


class Permanent(OperatorError):
    """Retrying will not help until the spec, the credentials or the broker change."""

    reason = "Rejected"


class Unauthorized(Permanent):
    """The management API refused the admin credentials (401/403)."""

    reason = "Unauthorized"


class UntrustedCertificate(Permanent):
    """The https management API's certificate does not verify against the CA we have."""

    reason = "UntrustedCertificate"


class InvalidSpec(Permanent):
    """The ChannelLayer's spec cannot be reconciled as written."""

    reason = "InvalidSpec"
