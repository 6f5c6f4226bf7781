"""Which local channels belong to which groups, reference-counted per process.

RabbitMQ needs one binding per (group, process), not one per websocket: since RabbitMQ 4.2
every bind is a replicated metadata write. This module decides when the broker must be
told: ``add`` answers True for the first local member of a group (bind now), ``discard``
answers True when the last one left (unbind now), and ``expire`` names what it dropped.
Pure bookkeeping: no I/O, so it is tested without a broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator


class LocalMembership:
    """Group -> {channel: expires at (monotonic seconds, or None for never)}."""

    def __init__(self, group_expiry: float | None) -> None:
        self._expiry = group_expiry
        self._groups: dict[str, dict[str, float | None]] = {}

    def __contains__(self, group: str) -> bool:
        return group in self._groups

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._groups))

    def add(self, group: str, channel: str, now: float | None = None) -> bool:
        """Add (or refresh) a member; True when the group had no local member before."""
        now = time.monotonic() if now is None else now
        members = self._groups.get(group)
        first = members is None
        if members is None:
            members = self._groups[group] = {}
        members[channel] = None if self._expiry is None else now + self._expiry
        return first

    def discard(self, group: str, channel: str) -> bool:
        """Remove a member if present; True when that emptied the group."""
        members = self._groups.get(group)
        if members is None or members.pop(channel, False) is False:
            return False
        if members:
            return False
        del self._groups[group]
        return True

    def members(self, group: str, now: float | None = None) -> list[str]:
        """The live members of ``group`` (expired ones are left for ``expire``)."""
        members = self._groups.get(group)
        if not members:
            return []
        now = time.monotonic() if now is None else now
        return [c for c, until in members.items() if until is None or until >= now]

    def expire(self, now: float | None = None) -> list[tuple[str, str]]:
        """Drop expired memberships; return the (group, channel) pairs dropped."""
        if self._expiry is None:
            return []
        now = time.monotonic() if now is None else now
        dropped = []
        for group, members in list(self._groups.items()):
            for channel, until in list(members.items()):
                if until is not None and until < now:
                    del members[channel]
                    dropped.append((group, channel))
            if not members:
                del self._groups[group]
        return dropped

    def clear(self) -> list[tuple[str, str]]:
        """Forget every membership; return the (group, channel) pairs there were."""
        pairs = [(g, c) for g, members in self._groups.items() for c in members]
        self._groups.clear()
        return pairs
