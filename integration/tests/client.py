"""A chat client over a real websocket, as a browser tab would be.

Why it exists: tests wait for a specific frame (a message with a given text) while other
frames may arrive first; ``expect`` skips those and is always bounded, so a lost message
fails the test within seconds instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

Frame = dict[str, Any]
WAIT = 10.0


class ChatClient:
    """One websocket connection to ``/ws/chat/<room>/?user=<name>``."""

    def __init__(self, ws: ClientConnection, welcome: Frame) -> None:
        self.ws = ws
        self.welcome = welcome

    @classmethod
    async def join(cls, url: str) -> ChatClient:
        """Connect and read the welcome frame (sent once the groups are joined)."""
        ws = await connect(url, open_timeout=WAIT, close_timeout=2)
        try:
            async with asyncio.timeout(WAIT):
                welcome = json.loads(await ws.recv())
        except BaseException:
            await ws.close()
            raise
        assert welcome["type"] == "welcome", welcome
        return cls(ws, welcome)

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, **command: Any) -> None:
        await self.ws.send(json.dumps(command))

    async def say(self, text: str) -> None:
        await self.send(action="say", text=text)

    async def expect(self, match: Callable[[Frame], bool], timeout: float = WAIT) -> Frame:
        """The first frame for which ``match`` is true; earlier frames are dropped."""
        async with asyncio.timeout(timeout):
            while True:
                frame: Frame = json.loads(await self.ws.recv())
                if match(frame):
                    return frame

    async def next_frame(self, timeout: float = WAIT) -> Frame:
        async with asyncio.timeout(timeout):
            frame: Frame = json.loads(await self.ws.recv())
            return frame


def message(text: str) -> Callable[[Frame], bool]:
    """Matches the room message with ``text``."""
    return lambda frame: frame.get("type") == "chat.message" and frame.get("text") == text
