"""What should exist on the broker for one ChannelLayer: a pure function of its spec.

Permissions follow what the layer does with its names (``amqp_channels.layer.naming``):
it declares, binds, consumes and deletes ``PREFIX.channel.*``, ``PREFIX.inbox.*``,
``PREFIX.group.*`` and the router ``PREFIX.groups``, and publishes to the default exchange
(whose name in permission checks is ``amq.default``) and to ``PREFIX.groups``. Nothing else
in the vhost is granted.

Two policies carry the limits (docs/deployment-contract.md, "Queue limits set by policy"):
normal channels get TTL, max-length with reject-publish and optional dead-lettering; inboxes
(the capacity of process-specific channels, docs/decisions.md) get TTL and max-length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from amqp_channels.layer.naming import channel_queue, group_exchange, group_router, inbox_queue

from .spec import ChannelLayerSpec

POLICY_PRIORITY = 10  # above ad-hoc policies at 0, so an operator's limits are the ones used
DEFAULT_EXCHANGE = "amq.default"


@dataclass(frozen=True)
class Permissions:
    configure: str
    write: str
    read: str

    def as_body(self) -> dict[str, str]:
        return {"configure": self.configure, "write": self.write, "read": self.read}


@dataclass(frozen=True)
class Policy:
    name: str
    pattern: str
    definition: dict[str, Any] = field(hash=False)
    priority: int = POLICY_PRIORITY
    apply_to: str = "queues"

    def as_body(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "definition": self.definition,
                "priority": self.priority, "apply-to": self.apply_to}


@dataclass(frozen=True)
class DesiredState:
    vhost: str
    user: str
    permissions: Permissions
    policies: tuple[Policy, ...]


def desired_state(spec: ChannelLayerSpec) -> DesiredState:
    return DesiredState(
        vhost=spec.vhost,
        user=spec.user,
        permissions=layer_permissions(spec.prefix),
        policies=(channel_policy(spec), inbox_policy(spec)),
    )


def _starts(name: str) -> str:
    """A regex for every name that starts like ``name`` (names built with a '' suffix)."""
    return re.escape(name) + ".+"


def layer_permissions(prefix: str) -> Permissions:
    """configure/write/read regexes that cover exactly the layer's names under ``prefix``."""
    names = "|".join([
        _starts(channel_queue(prefix, "")),
        _starts(inbox_queue(prefix, "")),
        _starts(group_exchange(prefix, "")),
        re.escape(group_router(prefix)),
    ])
    own = f"^({names})$"
    return Permissions(configure=own, read=own,
                       write=f"^({names}|{re.escape(DEFAULT_EXCHANGE)})$")


def _limits(spec: ChannelLayerSpec) -> dict[str, Any]:
    return {"message-ttl": int(spec.expiry * 1000), "max-length": spec.capacity,
            "overflow": "reject-publish"}


def channel_policy(spec: ChannelLayerSpec) -> Policy:
    definition = _limits(spec)
    if spec.dead_letter_exchange:
        definition["dead-letter-exchange"] = spec.dead_letter_exchange
    return Policy(name=f"{spec.prefix}.channel-limits",
                  pattern="^" + re.escape(channel_queue(spec.prefix, "")), definition=definition)


def inbox_policy(spec: ChannelLayerSpec) -> Policy:
    return Policy(name=f"{spec.prefix}.inbox-limits",
                  pattern="^" + re.escape(inbox_queue(spec.prefix, "")), definition=_limits(spec))
