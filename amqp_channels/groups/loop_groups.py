"""Groups on one event loop: local membership, the bindings that mirror it, and fan-out.

Invariants:
* a group is bound to this loop's inbox exactly while it has a local member, whatever the
  interleaving of ``group_add``/``group_discard`` (changes are applied under one lock, by
  comparing what is wanted with what is bound);
* after a reconnect every group with local members is bound again before the link reports
  ready, so consumers do nothing to keep receiving group messages; so is every normal
  channel this process added to a group;
* a group message reaches each live local member once, as its own decoded copy; the
  delivery stays held until every copy is received, so members that are busy push back
  on the broker (the inbox stops consuming at ``prefetch_count`` held) instead of losing
  messages; a member that is full and not being read is skipped and counted;
  ``group_send`` never raises ``ChannelFull``;
* when this process has members of the group, ``group_send`` returns only after its own
  copy has been fanned out to them (bounded by ``ECHO_WAIT``).

Normal channels may be group members too: their shared queue is bound to the group's
exchange directly (by whichever process called ``group_add``), with no refcount.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from channels.exceptions import ChannelFull

from .. import amqp
from ..amqp.errors import AMQPError, ConnectionClosed, NotFound
from ..layer.inbox import Held
from ..layer.loop_state import LoopState
from ..layer.naming import (
    CHANNEL_HEADER,
    CONTROL_HEADER,
    ECHO_HEADER,
    GROUP_HEADER,
    channel_queue,
    inbox_queue,
    inbox_token,
)
from ..telemetry.spans import Incoming, Outgoing
from .membership import LocalMembership
from .topology import GroupTopology

log = logging.getLogger("amqp_channels.groups")
UNBIND_LINGER = 5.0  # seconds a group stays bound after its last local member left
# Past this many lingering groups, unbind at once: every lingering binding is broker work
# left for the moment the connection closes (the exclusive inbox takes them all with it).
MAX_LINGERING = 256
# How long group_send waits for this process's own copy when it has members of the group
# (normally well under a millisecond; longer only when the inbox is backed up).
ECHO_WAIT = 0.5


class LoopGroups:
    """The groups extension's state for one ``LoopState``."""

    def __init__(self, state: LoopState) -> None:
        self._state = state
        self._config = state.config
        self.local = LocalMembership(state.config.group_expiry)
        self.normal = LocalMembership(state.config.group_expiry)  # normal-channel members
        self._bound: set[str] = set()
        self._lingering: dict[str, asyncio.TimerHandle] = {}  # unbinds waiting to happen
        self._stopped = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.topology = GroupTopology(state.config, state.link)
        state.inbox.group_handler = self._fan_out
        state.inbox.control_handler = self._on_control
        state.inbox.echo_handler = self._on_echo
        self._echoes: dict[str, asyncio.Future[None]] = {}
        self._echo_ids = itertools.count()
        state.restore_hooks.append(self._restore)
        state.stop_hooks.append(self._stop)
        self._sweeper: asyncio.TimerHandle | None = None
        self._schedule_sweep()

    async def add(self, group: str, channel: str) -> None:
        state = self._state
        if state.inbox.owns(channel):
            self.local.add(group, channel)
            await self._sync(group)
        elif "!" in channel:
            await self._ask_owner("group_add", group, channel)
        else:
            self.normal.add(group, channel)
            await self._ready()
            queue = await state.shared.declared_queue(channel)
            async with self._lock:
                await self.topology.bind(group, queue)

    async def discard(self, group: str, channel: str) -> None:
        state = self._state
        if state.inbox.owns(channel):
            self.local.discard(group, channel)
            await self._sync(group)
        elif "!" in channel:
            await self._ask_owner("group_discard", group, channel)
        else:
            self.normal.discard(group, channel)
            await self._unbind_normal(group, channel)

    async def send(self, group: str, body: bytes, outgoing: Outgoing | None = None) -> None:
        """Publish once to the router; the broker fans out to member processes.

        When this process has members of ``group`` it also waits (at most ``ECHO_WAIT``)
        until its own copy has come back and been fanned out: the publisher confirm can
        overtake that delivery, and then a ``receive()`` right after ``group_send`` would
        race it (a member at capacity must be skipped, as the spec says, not topped up
        after one message was taken)."""
        headers: dict[str, Any] = {GROUP_HEADER: group}
        echo_id = echo = None
        if group in self.local:
            echo_id = f"{self._state.token}.{next(self._echo_ids)}"
            echo = self._echoes[echo_id] = asyncio.get_running_loop().create_future()
            headers[ECHO_HEADER] = echo_id
        try:
            await self._publish(group, body, headers, outgoing, unique=echo is not None)
            if echo is not None:
                try:
                    async with asyncio.timeout(ECHO_WAIT):
                        await echo
                except TimeoutError:
                    pass  # a backed-up inbox: the copy still fans out when it arrives
        except ChannelFull:
            # Some member process's inbox is full: the others got it (RabbitMQ still
            # routes to the queues that accept). group_send never raises ChannelFull.
            self._state.stats.drop("group-inbox-full", f"a member inbox of {group} is full")
        finally:
            if echo_id is not None:
                self._echoes.pop(echo_id, None)

    async def _publish(self, group: str, body: bytes, headers: dict[str, Any],
                       outgoing: Outgoing | None, unique: bool) -> None:
        for attempt in range(2):
            try:
                await self._state.publish(group, body, headers, exchange=self.topology.router,
                                          outgoing=outgoing, unique=unique)
                return
            except NotFound as exc:
                # The router was deleted on the broker (by hand, say): declare it again.
                # Bindings through it went with it, and only their processes can make
                # them again (they do after a reconnect).
                if attempt:
                    raise self._state.unavailable(
                        f"group_send to {group}: {exc.reply_text}") from exc
                log.warning("group_send to %r: %s; declaring it again", group,
                            exc.reply_text)
                try:
                    await self.topology.declare_router()
                except (AMQPError, ConnectionError, TimeoutError) as again:
                    raise self._state.unavailable(
                        f"group_send to {group}: declaring the router again failed: "
                        f"{again!r}") from again

    def _on_echo(self, echo_id: str) -> None:
        echo = self._echoes.get(echo_id)
        if echo is not None and not echo.done():
            echo.set_result(None)

    async def flush(self) -> None:
        self.local.clear()
        for group in list(self._bound):
            await self._sync(group, linger=False)
        for group, channel in self.normal.clear():
            await self._unbind_normal(group, channel)

    async def _ready(self) -> None:
        await self._state.link.ready(self._config.send_timeout)

    async def _sync(self, group: str, *, linger: bool = True) -> None:
        """Bind or unbind ``group`` so the broker matches local membership.

        An unbind waits ``UNBIND_LINGER`` seconds first (``linger``): a websocket that
        reconnects, or a per-user group re-joined right away, then costs no broker work,
        and ``group_discard`` returns without a round trip. Delivery never depends on the
        binding: fan-out only reaches current local members."""
        if (linger and group in self._bound and group not in self.local
                and len(self._lingering) < MAX_LINGERING):
            if group not in self._lingering and not self._stopped:
                self._lingering[group] = asyncio.get_running_loop().call_later(
                    UNBIND_LINGER, self._linger_over, group)
            return
        await self._ready()
        async with self._lock:
            wanted, bound = group in self.local, group in self._bound
            try:
                if wanted and not bound:
                    await self.topology.bind(group, self._state.inbox.queue)
                    self._bound.add(group)
                elif bound and not wanted:
                    self._bound.discard(group)
                    await self.topology.unbind(group, self._state.inbox.queue, wait=False)
            except (ConnectionClosed, ConnectionError) as exc:
                # The connection dropped under us; the restore after reconnect binds
                # exactly the groups with local members.
                log.info("group %s: broker unavailable while syncing (%r)", group, exc)

    def _linger_over(self, group: str) -> None:
        self._lingering.pop(group, None)
        self._spawn(self._sync(group, linger=False))

    async def _unbind_normal(self, group: str, channel: str) -> None:
        await self._ready()
        async with self._lock:
            await self.topology.unbind(group, channel_queue(self._config.prefix, channel))

    async def _ask_owner(self, action: str, group: str, channel: str) -> None:
        """Membership of a channel another process owns: ask that process to apply it.

        Not traced on purpose (no span, no trace headers; the owner makes none either):
        it is the layer's bookkeeping, not a message of the application. Mandatory like
        every direct publish: an owner that is gone counts as dropped ``unroutable``."""
        queue = inbox_queue(self._config.prefix, inbox_token(channel))
        await self._state.publish(queue, b"", {CONTROL_HEADER: action, GROUP_HEADER: group,
                                               CHANNEL_HEADER: channel})

    async def _restore(self, connection: amqp.Connection) -> None:
        async with self._lock:
            self.topology.reset()
            self._bound.clear()  # a new inbox binding starts empty: lingering ones are gone
            await self.topology.declare_router()
            for group in self.local:
                await self.topology.bind(group, self._state.inbox.queue)
                self._bound.add(group)
            # Normal channels' bindings outlive a lost connection, but not a broker restart
            # (group exchanges are transient) nor their queue's deletion: bind again.
            for group in self.normal:
                for channel in self.normal.members(group):
                    queue = await self._state.shared.declared_queue(channel)
                    await self.topology.bind(group, queue)

    def _fan_out(self, group: str, message: dict[str, Any],
                 another_copy: Callable[[], dict[str, Any]], pending: Held,
                 incoming: Incoming | None) -> None:
        inbox = self._state.inbox
        copy: dict[str, Any] | None = message
        handed = 0
        for channel in self.local.members(group):
            if copy is None:
                copy = another_copy()
            if inbox.deliver(channel, copy, pending, incoming):
                copy = None
                handed += 1
            else:
                self._state.stats.drop("group-member-full",
                                       f"{channel} in group {group} is full; skipped")
        instruments = self._state.telemetry.instruments()
        if instruments is not None:
            instruments.fan_out.record(handed)

    def _on_control(self, action: str, group: str, channel: str) -> None:
        if action == "group_add":
            self.local.add(group, channel)
        elif action == "group_discard":
            self.local.discard(group, channel)
        else:
            self._state.stats.drop("foreign", f"unknown control action {action!r}")
            return
        self._spawn(self._sync(group))

    def _spawn(self, coroutine: Any) -> None:
        if self._stopped:
            coroutine.close()
            return
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None or self._state.link.closing:
            return  # closing: the inbox and its bindings go with the connection anyway
        log.warning("group membership change failed: %r", task.exception())

    def _schedule_sweep(self) -> None:
        if self._config.group_expiry is None:
            return
        interval = min(max(self._config.group_expiry / 2, 0.5), 60.0)
        self._sweeper = asyncio.get_running_loop().call_later(interval, self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        for group in {group for group, _channel in self.local.expire(now)}:
            self._spawn(self._sync(group))
        for group, channel in self.normal.expire(now):
            self._spawn(self._unbind_normal(group, channel))
        self._schedule_sweep()

    def _stop(self) -> None:
        self._stopped = True
        for echo in self._echoes.values():  # no copy comes back any more: stop waiting
            if not echo.done():
                echo.set_result(None)
        for timer in self._lingering.values():
            timer.cancel()
        self._lingering.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for task in self._tasks:
            task.cancel()
