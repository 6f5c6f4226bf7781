"""Django system checks for ``CHANNEL_LAYERS`` entries that use this library.

* ``amqp_channels.E001`` (every ``manage.py check``, no network): the entry's CONFIG is
  rejected by ``LayerConfig.from_kwargs``, the same validation the layer runs when built.
* ``amqp_channels.E002`` (``check --deploy``): no URL in ``hosts`` can be reached, or the
  broker refuses the login.
* ``amqp_channels.E003`` (``check --deploy``): the login works but RabbitMQ refuses a
  declare or bind the layer needs (permissions on names starting with the prefix, or
  an existing object of that name with other properties).
* ``amqp_channels.W001`` (``check --deploy``): one of several ``hosts`` fails while another
  works: the layer runs, but without the failover the operator listed.

``AMQPChannelsConfig.ready`` registers both functions. Each message is one line naming the
alias, the host (never the password) and the problem.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.checks import Warning as CheckWarning

from ..layer.config import LayerConfig
from .probe import Failure, ProbeFailure, run_probe

TAG = "amqp_channels"  # ``manage.py check --tag amqp_channels`` runs only these
BACKENDS = frozenset({
    "amqp_channels.layer.AMQPChannelLayer",  # the documented path
    "amqp_channels.AMQPChannelLayer",
    "amqp_channels.backend.AMQPChannelLayer",
    "amqp_channels.layer.CoreChannelLayer",
    "amqp_channels.layer.core.CoreChannelLayer",
})


def our_layers() -> Iterator[tuple[str, Any]]:
    """(alias, CONFIG) of each CHANNEL_LAYERS entry whose BACKEND is this library."""
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    if not isinstance(layers, dict):
        return  # absent or malformed: Channels itself reports that
    for alias, entry in layers.items():
        if isinstance(entry, dict) and entry.get("BACKEND") in BACKENDS:
            yield str(alias), entry.get("CONFIG", {})


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _validated(alias: str, config: Any) -> LayerConfig | Error:
    if not isinstance(config, dict):
        return Error(f"CHANNEL_LAYERS[{alias!r}]['CONFIG'] must be a dict, got "
                     f"{type(config).__name__}", id="amqp_channels.E001")
    try:
        return LayerConfig.from_kwargs(**config)
    except (TypeError, ValueError) as exc:
        return Error(f"CHANNEL_LAYERS[{alias!r}]: {_one_line(str(exc))}",
                     hint="See the configuration keys in the amqp-channels README.",
                     id="amqp_channels.E001")


def check_layer_config(app_configs: Sequence[Any] | None = None,
                       **kwargs: Any) -> list[CheckMessage]:
    """E001 for every CHANNEL_LAYERS entry of ours whose CONFIG the layer would reject."""
    return [result for alias, config in our_layers()
            if isinstance(result := _validated(alias, config), Error)]


def check_broker_access(app_configs: Sequence[Any] | None = None,
                        **kwargs: Any) -> list[CheckMessage]:
    """E002/E003/W001: probe every host of every valid entry of ours (bounded per host)."""
    messages: list[CheckMessage] = []
    for alias, raw in our_layers():
        config = _validated(alias, raw)
        if isinstance(config, LayerConfig):  # an invalid one already has its E001
            messages.extend(_probe_hosts(alias, config))
    return messages


def _probe_hosts(alias: str, config: LayerConfig) -> list[CheckMessage]:
    failures = [(url, run_probe(url, config.prefix, ssl=config.ssl))
                for url in config.hosts]
    failed = [failure for _url, failure in failures if failure is not None]
    if len(failed) < len(failures):  # at least one host works: the rest is degraded
        return [CheckWarning(f"CHANNEL_LAYERS[{alias!r}]: {failure.message}",
                             hint="The layer fails over to the hosts that work.",
                             id="amqp_channels.W001") for failure in failed]
    return [_error(alias, failure) for failure in failed]


def _error(alias: str, failure: ProbeFailure) -> Error:
    if failure.kind is Failure.PERMISSION:
        return Error(f"CHANNEL_LAYERS[{alias!r}]: {failure.message}",
                     hint="Grant the user configure, write and read permissions on names "
                          "starting with the layer prefix (rabbitmqctl set_permissions), "
                          "or delete objects of that name declared with other properties.",
                     id="amqp_channels.E003")
    return Error(f"CHANNEL_LAYERS[{alias!r}]: {failure.message}",
                 hint="Check the URLs in CONFIG 'hosts', the credentials and the vhost.",
                 id="amqp_channels.E002")
