"""The spec's ``groups`` extension verbs, on top of the core channel layer."""

from __future__ import annotations

from typing import Any

from ..layer.core import CoreChannelLayer
from ..layer.loop_state import LoopState
from ..layer.naming import group_router
from .loop_groups import LoopGroups


class GroupsExtension(CoreChannelLayer):
    """``group_add``, ``group_discard``, ``group_send`` and ``group_expiry``."""

    def _attach(self, state: LoopState) -> None:
        super()._attach(state)
        state.addons["groups"] = LoopGroups(state)

    async def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` (idempotent; refreshes its expiry)."""
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._here_or_relayed(lambda state: _groups(state).add(group, channel))

    async def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``; no error when it is not a member."""
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        await self._here_or_relayed(lambda state: _groups(state).discard(group, channel))

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group``; full members are skipped."""
        self.require_valid_group_name(group)
        with self.telemetry.producer("group_send", group, exchange=group_router(self.prefix),
                                     routing_key=group) as outgoing:
            body = self.codec.encode(message)
            await self._here_or_relayed(lambda state: _groups(state).send(group, body, outgoing))

    async def _flush(self, state: LoopState) -> None:
        # flush() also drops this loop's group memberships.
        await _groups(state).flush()
        await super()._flush(state)


def _groups(state: LoopState) -> LoopGroups:
    groups: LoopGroups = state.addons["groups"]
    return groups
