"""The scripted chat session: browser-like websocket clients on both Daphnes, every kind of
message the chat has, each one accounted for.

Why it exists: it is what a user of the chat does, at a rate a person cannot, so every path
through the layer is exercised and measured at once: room broadcasts (a group spanning two
processes), whispers (a user's group, one user on two Daphnes), tasks (a normal channel to
the worker and a reply to one websocket's own channel) and an announcement from a sync
Django view. Each message names itself in its text (``KIND:NUMBER ...``) so a client can
tell which one arrived; each phase waits, bounded, until all of its deliveries arrived.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed

from demo.tally import KINDS, KindStats, Tally
from integration.tests.client import ChatClient, Frame
from integration.tests.processes import Daphne

TEXT_RE = re.compile(r"^(broadcast|whisper|announcement):(\d+) ")
GRACE = 0.5  # seconds to keep listening after the last phase, to catch duplicates


@dataclass(frozen=True)
class Tab:
    """One browser tab: a user connected to one of the Daphnes (by index)."""

    user: str
    daphne: int

    @property
    def name(self) -> str:
        return f"{self.user}@daphne{self.daphne + 1}"


# Bob has a tab on each Daphne: his whispers must reach both, across processes.
TABS = (Tab("alice", 0), Tab("bob", 0), Tab("carol", 0),
        Tab("dave", 1), Tab("erin", 1), Tab("bob", 1))


@dataclass(frozen=True)
class Plan:
    room: str
    messages: int  # room broadcasts in total, said in turn by every tab
    tasks_per_tab: int
    rate: float  # messages per second the clients send at, together
    timeout: float  # bound on each phase's wait for its deliveries


@dataclass
class SessionResult:
    stats: dict[str, KindStats]
    errors: list[str]
    tabs_per_daphne: dict[str, list[str]]  # daphne name -> tabs its process welcomed
    worker_pids: set[int]
    incomplete: list[str]  # phases whose deliveries did not all arrive in time
    seconds: float

    def problems(self) -> list[str]:
        found = [p for stats in self.stats.values() for p in stats.problems()]
        if self.errors:
            found.append(f"{len(self.errors)} error or unexpected frames")
        return found


def route(frame: Frame, tab: str, tally: Tally, worker_pids: set[int]) -> None:
    """Book one frame a tab read: which message it is, or why it is an error."""
    kind = frame.get("type")
    if kind == "task.done":
        n = frame.get("n")
        worker_pids.add(int(frame.get("worker", 0)))
        if not isinstance(n, int) or frame.get("result") != n * n:
            tally.errors.append(f"{tab}: wrong task answer {frame}")
            return
        tally.received(("task", n), tab)
    elif kind in ("chat.message", "chat.whisper"):
        match = TEXT_RE.match(str(frame.get("text", "")))
        if match:
            tally.received((match[1], int(match[2])), tab)
        else:
            tally.errors.append(f"{tab}: unexpected {kind}: {frame.get('text')!r}")
    else:
        tally.errors.append(f"{tab}: {frame}")


async def read_frames(tab: str, client: ChatClient, tally: Tally, pids: set[int]) -> None:
    """Book every frame the tab reads, until its socket closes."""
    try:
        while True:
            route(json.loads(await client.ws.recv()), tab, tally, pids)
    except ConnectionClosed:
        return


class Pacer:
    """Spaces sends ``1/rate`` seconds apart, so latency is measured, not a queue's length."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    async def wait(self) -> None:
        self.next += self.interval
        await asyncio.sleep(max(0.0, self.next - time.monotonic()))


def post(url: str, text: str) -> int:
    request = urllib.request.Request(url, data=text.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


class Session:
    """The connected tabs and the tally; one method per phase, each ending in a bounded wait."""

    def __init__(self, daphnes: list[Daphne], plan: Plan) -> None:
        self.daphnes, self.plan = daphnes, plan
        self.tally = Tally()
        self.pids: set[int] = set()
        self.incomplete: list[str] = []
        self.clients: dict[Tab, ChatClient] = {}
        self.readers: list[asyncio.Task[None]] = []
        self.everyone = {tab.name for tab in TABS}

    async def join(self) -> dict[str, list[str]]:
        """Connect every tab; return the tabs each Daphne process welcomed (by its pid)."""
        for tab in TABS:
            url = self.daphnes[tab.daphne].ws_url(self.plan.room, tab.user)
            client = self.clients[tab] = await ChatClient.join(url)
            self.readers.append(
                asyncio.create_task(read_frames(tab.name, client, self.tally, self.pids)))
        by_pid = {d.pid: d.name for d in self.daphnes}
        welcomed: dict[str, list[str]] = {d.name: [] for d in self.daphnes}
        for tab, client in self.clients.items():
            welcomed.setdefault(by_pid.get(client.welcome["server"], "?"), []).append(tab.name)
        return welcomed

    async def settle(self, phase: str) -> None:
        if not await self.tally.settled(self.plan.timeout):
            self.incomplete.append(phase)

    async def broadcasts(self) -> None:
        """Every tab says messages in turn; each must reach every tab on both Daphnes."""
        pace = Pacer(self.plan.rate)
        for k in range(self.plan.messages):
            tab = TABS[k % len(TABS)]
            t = self.tally.expect(("broadcast", k), self.everyone)
            await self.clients[tab].say(f"broadcast:{k} from {tab.user} t={t:.6f}")
            await pace.wait()
        await self.settle("broadcast")

    async def whispers(self) -> None:
        """Each user whispers to the next; every tab of that user gets it, nobody else."""
        pace = Pacer(self.plan.rate)
        users = list(dict.fromkeys(tab.user for tab in TABS))
        for i, user in enumerate(users):
            to = users[(i + 1) % len(users)]
            sender = next(tab for tab in TABS if tab.user == user)
            t = self.tally.expect(("whisper", i), {tab.name for tab in TABS if tab.user == to})
            await self.clients[sender].send(action="whisper", to=to,
                                            text=f"whisper:{i} {user} to {to} t={t:.6f}")
            await pace.wait()
        await self.settle("whisper")

    async def tasks(self) -> None:
        """Each tab asks the worker to square numbers; the answer comes to that tab only."""
        pace = Pacer(self.plan.rate)
        n = 0
        for _ in range(self.plan.tasks_per_tab):
            for tab in TABS:
                self.tally.expect(("task", n), {tab.name})
                await self.clients[tab].send(action="task", n=n)
                n += 1
                await pace.wait()
        await self.settle("task")

    async def announcement(self) -> None:
        """A POST to Daphne 1's sync view; the room on both Daphnes gets it."""
        t = self.tally.expect(("announcement", 0), self.everyone)
        url = f"{self.daphnes[0].http_url}announce/{self.plan.room}/"
        text = f"announcement:0 from a sync view t={t:.6f}"
        status = await asyncio.to_thread(post, url, text)
        if status != 200:
            self.tally.errors.append(f"POST {url} answered {status}")
        await self.settle("announcement")

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


async def run(daphnes: list[Daphne], plan: Plan) -> SessionResult:
    """Join every tab, run the four phases, close every tab; return what was measured."""
    started = time.monotonic()
    session = Session(daphnes, plan)
    try:
        welcomed = await session.join()
        await session.broadcasts()
        await session.whispers()
        await session.tasks()
        await session.announcement()
        await asyncio.sleep(GRACE)  # duplicates would arrive now
    finally:
        await session.close()
    tally = session.tally
    return SessionResult(
        stats={kind: tally.stats(kind) for kind in KINDS},
        errors=tally.errors,
        tabs_per_daphne=welcomed,
        worker_pids=session.pids - {0},
        incomplete=session.incomplete,
        seconds=time.monotonic() - started,
    )
