"""The chat app: a websocket consumer, a worker consumer and one page."""

from __future__ import annotations

from django.apps import AppConfig


class ChatConfig(AppConfig):  # type: ignore[misc]
    name = "chat"
