"""The spec's ``groups`` extension verbs, on top of the core channel layer."""

from __future__ import annotations

from typing import Any

from ..layer.core import CoreChannelLayer
from ..layer.loop_state import LoopState
from ..layer.naming import group_router
from ..telemetry.spans import Outgoing
from .loop_groups import LoopGroups


class GroupsExtension(CoreChannelLayer):
    """``group_add``, ``group_discard``, ``group_send`` and ``group_expiry``."""

    def _attach(self, state: LoopState) -> None:
        super()._attach(state)
        state.addons["groups"] = LoopGroups(state)

    def _groups(self) -> LoopGroups:
        groups: LoopGroups = self._state().addons["groups"]
        return groups

    async def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (idempotent; refreshes its expiry)."""
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._groups().add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``; no error when it is not a member."""
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._groups().discard(group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group``; full members are skipped."""
        self.require_valid_group_name(group)
        with self.telemetry.producer("group_send", group, exchange=group_router(self.prefix),
                                     routing_key=group) as outgoing:
            body = self.codec.encode(message)
            state = self._publisher()
            if state is None:
                await self._relay.run(self._group_send_here, group, body, outgoing)
            else:
                await state.addons["groups"].send(group, body, outgoing)

    async def _group_send_here(self, group: str, body: bytes,
                               outgoing: Outgoing | None) -> None:
        await self._groups().send(group, body, outgoing)

    async def flush(self) -> None:
        """Drop every message, queue and group membership of this layer on this loop."""
        await self._groups().flush()
        await super().flush()
