"""``CHANNEL_LAYERS`` from the environment, as the Helm chart and the operator provide it.

Why it exists: on Kubernetes the connection arrives as environment variables loaded from a
Secret (docs/deployment-contract.md), and every application would otherwise parse them its
own way. One call turns them into the setting::

    CHANNEL_LAYERS = channel_layers_from_env()

* ``AMQP_CHANNELS_LAYERS``: the whole setting as JSON; wins when set.
* ``AMQP_CHANNELS_URL``: otherwise, one or more AMQP URLs separated by commas -> ``hosts``;
  ``AMQP_CHANNELS_PREFIX`` -> ``prefix``.
* ``AMQP_CHANNELS_CA_FILE``: in either case ``CONFIG["ssl"]["cafile"]``.

Only the shape is checked here (with a ``ValueError`` naming the variable); the values are
checked by the layer when it is built, with the same errors as a hand-written setting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["BACKEND", "channel_layers_from_env"]

BACKEND = "amqp_channels.layer.AMQPChannelLayer"
LAYERS_VAR = "AMQP_CHANNELS_LAYERS"
URL_VAR = "AMQP_CHANNELS_URL"
PREFIX_VAR = "AMQP_CHANNELS_PREFIX"
CA_FILE_VAR = "AMQP_CHANNELS_CA_FILE"


def channel_layers_from_env(environ: Mapping[str, str] | None = None, alias: str = "default",
                            **overrides: Any) -> dict[str, dict[str, Any]]:
    """The ``CHANNEL_LAYERS`` setting the environment describes.

    ``overrides`` are CONFIG keys set in code (e.g. ``symmetric_encryption_keys``); they
    win over the environment in the ``alias`` entry."""
    env = os.environ if environ is None else environ
    layers = _from_json(env[LAYERS_VAR], alias) if env.get(LAYERS_VAR) else {
        alias: {"BACKEND": BACKEND, "CONFIG": _from_url(env)},
    }
    config = layers[alias].setdefault("CONFIG", {})
    if not isinstance(config, dict):
        raise ValueError(f"{LAYERS_VAR}: {alias!r}.CONFIG must be a JSON object, "
                         f"got {type(config).__name__}")
    if env.get(CA_FILE_VAR):
        ssl = config.get("ssl") or {}
        if not isinstance(ssl, dict):
            raise ValueError(f"{LAYERS_VAR}: {alias!r}.CONFIG.ssl must be a JSON object to "
                             f"add {CA_FILE_VAR} to, got {type(ssl).__name__}")
        config["ssl"] = {**ssl, "cafile": env[CA_FILE_VAR]}
    config.update(overrides)
    return layers


def _from_json(text: str, alias: str) -> dict[str, dict[str, Any]]:
    try:
        layers = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{LAYERS_VAR} is not valid JSON: {exc}") from None
    if not isinstance(layers, dict):
        raise ValueError(f"{LAYERS_VAR} must be a JSON object of alias -> layer, "
                         f"got {type(layers).__name__}")
    if not isinstance(layers.get(alias), dict):
        raise ValueError(f"{LAYERS_VAR} has no layer {alias!r} (a JSON object with BACKEND "
                         f"and CONFIG); it has {sorted(layers)}")
    return layers


def _from_url(env: Mapping[str, str]) -> dict[str, Any]:
    hosts = [url.strip() for url in env.get(URL_VAR, "").split(",") if url.strip()]
    if not hosts:
        raise ValueError(f"neither {LAYERS_VAR} nor {URL_VAR} is set: set {URL_VAR} to "
                         f"amqp://user:password@host:5672/vhost (several separated by commas)")
    config: dict[str, Any] = {"hosts": hosts}
    if env.get(PREFIX_VAR):
        config["prefix"] = env[PREFIX_VAR]
    return config
