"""The demo's OS processes: spawn them, talk to them, and always end them.

Each process runs one role from ``demo.roles`` in a fresh interpreter (multiprocessing
"spawn": nothing inherited but arguments). Control messages travel over multiprocessing
queues: the parent ``tell``s a process something through its own inbox; processes report
``(role, kind, payload)`` events on one shared queue, which the parent ``expect``s with a
deadline. A process that dies, or reports an error, fails the wait at once instead of letting
it run into its timeout.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from typing import Any

from demo import roles, signals

_CTX = multiprocessing.get_context("spawn")


class DemoError(RuntimeError):
    """A demo step failed or did not finish in time."""


class Crew:
    """The processes of one scenario and their control queues."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: multiprocessing.Queue[tuple[str, str, Any]] = _CTX.Queue()
        self.stop_event: Event = _CTX.Event()
        self.tasks_done = _CTX.Value("i", 0)
        self._processes: dict[str, SpawnProcess] = {}
        self._inboxes: dict[str, multiprocessing.Queue[Any]] = {}
        self._pending: list[tuple[str, str, Any]] = []

    def start(self, role: str, kind: str, **params: Any) -> None:
        """Spawn a process named ``role`` running ``roles.ROLES[kind]`` with ``params``."""
        inbox: multiprocessing.Queue[Any] = _CTX.Queue()
        shared = roles.Shared(self.url, inbox, self.events, self.stop_event, self.tasks_done)
        process = _CTX.Process(
            target=roles.child_main, args=(role, kind, shared, params), name=f"demo-{role}"
        )
        process.daemon = True  # never outlive the parent's interpreter
        process.start()
        self._processes[role] = process
        self._inboxes[role] = inbox

    def tell(self, role: str, message: Any) -> None:
        """Put a control message into the inbox of process ``role``."""
        self._inboxes[role].put(message)

    def expect(self, role: str, kind: str, timeout: float) -> Any:
        """Wait for event ``kind`` from ``role`` and return its payload; DemoError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (who, what, payload) in enumerate(self._pending):
                if who == role and what == kind:
                    del self._pending[i]
                    return payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise DemoError(f"process {role} did not report {kind!r} within {timeout:g} s")
            try:
                event = self.events.get(timeout=min(left, 0.2))
            except queue.Empty:
                self._check_alive(role, kind)
                continue
            if event[1] == "error":
                raise DemoError(f"process {event[0]} failed:\n{event[2]}")
            self._pending.append(event)

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Poll ``condition`` until true (True) or ``timeout`` (False); DemoError on a crash."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                for role, process in self._processes.items():
                    if process.exitcode not in (None, 0):
                        raise DemoError(
                            f"process {role} exited with code {process.exitcode}"
                        ) from None
                continue
            if event[1] == "error":
                raise DemoError(f"process {event[0]} failed:\n{event[2]}")
            self._pending.append(event)
        return True

    def _check_alive(self, role: str, kind: str) -> None:
        process = self._processes[role]
        if process.is_alive():
            return
        # It may have reported just before exiting: drain what arrived.
        try:
            while True:
                event = self.events.get(timeout=0.5)
                if event[1] == "error":
                    raise DemoError(f"process {event[0]} failed:\n{event[2]}")
                self._pending.append(event)
        except queue.Empty:
            pass
        if not any(who == role and what == kind for who, what, _ in self._pending):
            raise DemoError(
                f"process {role} exited with code {process.exitcode} before reporting {kind!r}"
            )

    def join(self, timeout: float = 15.0) -> None:
        """Wait for every process to exit by itself; DemoError naming those that did not."""
        deadline = time.monotonic() + timeout
        for process in self._processes.values():
            process.join(max(0.0, deadline - time.monotonic()))
        stuck = [role for role, p in self._processes.items() if p.is_alive()]
        if stuck:
            raise DemoError(f"processes still running after {timeout:.0f} s: {', '.join(stuck)}")

    def end(self) -> None:
        """Terminate, then kill, whatever still runs, and release the queues. Never raises."""
        with signals.deferred():
            self._end()

    def _end(self) -> None:
        self.stop_event.set()
        for process in self._processes.values():
            if process.is_alive():
                process.terminate()
        for process in self._processes.values():
            process.join(5.0)
            if process.is_alive():
                process.kill()
                process.join(5.0)
        for q in [self.events, *self._inboxes.values()]:
            q.cancel_join_thread()  # a killed reader must not block our exit
            q.close()

    def __enter__(self) -> Crew:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.end()
