"""From ``receive()`` to ``dispatch()``: the producer's context of each received message.

Channels calls the layer's ``receive()`` in a task of its own and hands the message to the
consumer's ``dispatch()`` in another, so a context set while receiving never reaches the
handler. The layer records the message's ``Incoming`` here, keyed by the identity of the
message dict, and ``TracedConsumerMixin.dispatch`` takes it out. Nothing is added to the
user's message.

Invariants:
* an entry holds the message itself, so its ``id()`` cannot be reused by another object
  while the entry exists: a lookup never returns another message's context;
* entries are recorded only once a traced consumer class exists in the process, and at
  most ``MAX_ENTRIES`` are kept (oldest evicted): a receive whose dispatch never comes
  (the consumer was cancelled in between, or it is not a traced consumer) costs a bounded
  amount of memory.
"""

from __future__ import annotations

from typing import Any

from .spans import Incoming

MAX_ENTRIES = 4096


class Handoff:
    """A bounded table of ``Incoming`` contexts, keyed by message identity."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.active = False  # set once a traced consumer class is defined
        self._max = max_entries
        self._entries: dict[int, tuple[dict[str, Any], Incoming]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, message: dict[str, Any], incoming: Incoming) -> None:
        if not self.active:
            return
        entries = self._entries
        while len(entries) >= self._max:
            try:
                del entries[next(iter(entries))]  # dicts keep insertion order: the oldest
            except (KeyError, StopIteration, RuntimeError):
                break  # another thread's loop changed it meanwhile; good enough
        entries[id(message)] = (message, incoming)

    def pop(self, message: dict[str, Any]) -> Incoming | None:
        entry = self._entries.pop(id(message), None)
        if entry is None or entry[0] is not message:
            return None
        return entry[1]


HANDOFF = Handoff()
