"""The chat websocket: one consumer per browser tab, at ``/ws/chat/<room>/?user=<name>``.

Each consumer joins the room's group and its user's group, so a ``say`` reaches every tab in
the room and a ``whisper`` every tab of one user, whichever Daphne process holds them. A
``task`` goes to the ``chat-tasks`` normal channel with this consumer's channel as the reply
address, and the worker answers there directly.

Frames in (JSON): ``{"action": "say", "text"}``, ``{"action": "whisper", "to", "text"}``,
``{"action": "task", "n"}``. Frames out: ``welcome``, ``chat.message``, ``chat.whisper``,
``task.done``, ``error``. When the broker is down, a command is answered with an ``error``
frame instead of closing the socket: the client may retry once the layer has reconnected.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from amqp_channels import BrokerUnavailable
from amqp_channels.telemetry import TracedConsumerMixin

from .names import MAX_N, MAX_TEXT, NAME_RE, TASK_CHANNEL, room_group, user_group

log = logging.getLogger(__name__)

BAD_REQUEST = 4400  # websocket close code: the room or user name is not acceptable


class ChatConsumer(TracedConsumerMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Relays chat commands to groups and channels, and their messages back to the socket."""

    # A chat line is one event for the user: show its delivery to every tab as one trace
    # (frame in, group_send, each process span and frame out) rather than linked traces.
    trace_parent = True

    room = ""
    user = ""

    async def connect(self) -> None:
        self.room = self.scope["url_route"]["kwargs"]["room"]
        self.user = parse_qs(self.scope["query_string"].decode()).get("user", [""])[0]
        if not NAME_RE.match(self.user):
            await self.close(code=BAD_REQUEST)
            return
        # Channels' websocket_disconnect discards ``self.groups`` when the socket closes.
        self.groups = [room_group(self.room), user_group(self.user)]
        for group in self.groups:  # joined before accept: the first frame finds us a member
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "welcome", "room": self.room, "user": self.user,
                              "server": os.getpid()})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        action: Any = content.get("action") if isinstance(content, dict) else None
        handler = {"say": self.say, "whisper": self.whisper, "task": self.task}.get(action)
        if handler is None:
            await self.error(f"unknown action {action!r}; expected say, whisper or task")
            return
        try:
            await handler(content)
        except BrokerUnavailable as exc:
            log.warning("chat: %s failed: %s", action, exc)
            await self.error("the message broker is unavailable; try again shortly")

    async def say(self, content: dict[str, Any]) -> None:
        text = content.get("text")
        if self._valid_text(text):
            await self.channel_layer.group_send(room_group(self.room), {
                "type": "chat.message", "room": self.room, "user": self.user, "text": text})
        else:
            await self.error(f"text must be a string of at most {MAX_TEXT} characters")

    async def whisper(self, content: dict[str, Any]) -> None:
        to, text = content.get("to"), content.get("text")
        if not isinstance(to, str) or not NAME_RE.match(to):
            await self.error("'to' must be a user name")
        elif not self._valid_text(text):
            await self.error(f"text must be a string of at most {MAX_TEXT} characters")
        else:
            await self.channel_layer.group_send(user_group(to), {
                "type": "chat.whisper", "from": self.user, "to": to, "text": text})

    async def task(self, content: dict[str, Any]) -> None:
        n = content.get("n")
        if isinstance(n, bool) or not isinstance(n, int) or abs(n) > MAX_N:
            await self.error(f"n must be an integer between -{MAX_N} and {MAX_N}")
            return
        await self.channel_layer.send(TASK_CHANNEL, {
            "type": "task.compute", "n": n, "reply_channel": self.channel_name})

    # -- messages from the channel layer, relayed to the socket as they are ---------------

    async def chat_message(self, message: dict[str, Any]) -> None:
        await self.send_json(message)

    async def chat_whisper(self, message: dict[str, Any]) -> None:
        await self.send_json(message)

    async def task_done(self, message: dict[str, Any]) -> None:
        await self.send_json(message)

    async def error(self, text: str) -> None:
        await self.send_json({"type": "error", "error": text})

    @staticmethod
    def _valid_text(text: Any) -> bool:
        return isinstance(text, str) and 0 < len(text) <= MAX_TEXT
