"""``get_publisher(alias)``: one ``SyncPublisher`` per ``CHANNEL_LAYERS`` alias.

Settings are read on first use of an alias, not at import, so importing this module in a
``models.py`` or a Celery task module is safe before Django is set up. The CONFIG is checked
by the same ``LayerConfig.from_kwargs`` as the layer's. Publishers are dropped (and closed)
when a test changes ``CHANNEL_LAYERS`` with ``override_settings``, as Channels does for its
layers.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER

from .publisher import SyncPublisher

_publishers: dict[str, SyncPublisher] = {}
_lock = threading.Lock()
_listening = False


def get_publisher(alias: str = DEFAULT_CHANNEL_LAYER) -> SyncPublisher:
    """The process's publisher for ``settings.CHANNEL_LAYERS[alias]`` (made on first use)."""
    global _listening
    publisher = _publishers.get(alias)
    if publisher is not None:
        return publisher
    with _lock:
        publisher = _publishers.get(alias)
        if publisher is None:
            publisher = _publishers[alias] = SyncPublisher(**_config(alias))
        if not _listening:
            from django.test.signals import setting_changed

            setting_changed.connect(_on_setting_changed)
            _listening = True
        return publisher


def _config(alias: str) -> dict[str, Any]:
    from django.conf import settings

    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    if alias not in layers:
        raise ValueError(
            f"no channel layer {alias!r} in settings.CHANNEL_LAYERS; "
            f"configured: {', '.join(map(repr, layers)) or 'none'}"
        )
    config = layers[alias].get("CONFIG") or {}
    if not isinstance(config, dict):
        raise TypeError(f"CHANNEL_LAYERS[{alias!r}]['CONFIG'] must be a dict, got {config!r}")
    return config


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "CHANNEL_LAYERS":
        reset()


def reset() -> None:
    """Close and forget every publisher; the next ``get_publisher`` reads settings again."""
    with _lock:
        publishers = list(_publishers.values())
        _publishers.clear()
    for publisher in publishers:
        publisher.close()


def _reset_lock_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it at fork time


os.register_at_fork(after_in_child=_reset_lock_in_child)
