"""The chat's vocabulary of names, shared by the consumers and the routing.

Rooms and users become group names (``room-<room>``, ``user-<name>``), so they are limited to
the characters Channels accepts in group names and kept well under its 99-character limit.
"""

from __future__ import annotations

import re

NAME = r"[A-Za-z0-9_.\-]{1,40}"
NAME_RE = re.compile(rf"^{NAME}$")
TASK_CHANNEL = "chat-tasks"
MAX_TEXT = 2000  # characters in one chat line
MAX_N = 10**6  # the largest number a task may square


def room_group(room: str) -> str:
    return f"room-{room}"


def user_group(user: str) -> str:
    return f"user-{user}"
