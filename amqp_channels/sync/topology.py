"""The broker objects a sync publish needs, declared as the async layer declares them.

* a normal channel's durable queue, with the layer's arguments (``queue_arguments``); one
  that exists with other arguments is used as it is, like the layer does
  (docs/decisions.md, "Queues that already exist with other arguments");
* the group router ``{prefix}.groups``: a transient direct exchange, so a ``group_send``
  before any layer process has connected is a routing miss, not a closed channel.

Each is declared once per connection (kombu clears ``declared_entities`` on reconnect), on a
short-lived AMQP channel: a failed declare closes its channel, never the publishing one.
"""

from __future__ import annotations

import logging
from typing import Any

from amqp.exceptions import PreconditionFailed

from ..layer.config import LayerConfig
from ..layer.naming import ROUTER_TYPE, queue_arguments

log = logging.getLogger("amqp_channels.sync")


def declare_queue(connection: Any, config: LayerConfig, queue: str, channel: str) -> None:
    """Declare ``queue`` once per connection; keep an existing one's arguments."""
    if queue in connection.declared_entities:
        return
    declarer = connection.channel()
    try:
        declarer.queue_declare(queue, durable=True, auto_delete=False,
                               arguments=queue_arguments(config, channel))
    except PreconditionFailed as exc:
        # Exists with other arguments: keep the broker's (a policy or an older deploy).
        log.warning("queue %s exists with other arguments; using it as it is (%s)", queue, exc)
        declarer = connection.channel()
        declarer.queue_declare(queue, passive=True)
    declarer.close()
    connection.declared_entities.add(queue)


def declare_router(connection: Any, router: str) -> None:
    """Declare the group router exchange once per connection, as the layer does."""
    if router in connection.declared_entities:
        return
    declarer = connection.channel()
    declarer.exchange_declare(router, ROUTER_TYPE, durable=False, auto_delete=False)
    declarer.close()
    connection.declared_entities.add(router)
