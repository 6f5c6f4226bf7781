"""Run benchmark roles (sender, receiver, pinger...) in OS processes of their own, bounded in time.

Why: a channel layer costs client CPU as much as broker work, so a sender and a receiver
sharing one event loop would measure the wrong thing. Roles run in *spawned* processes (no
event loop or socket inherited through fork), each reports exactly one result dict through a
queue, and whatever is still alive when the group closes is terminated, then killed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
from collections.abc import Callable, Coroutine
from multiprocessing.context import SpawnProcess
from types import TracebackType
from typing import Any

Result = dict[str, Any]
Role = Callable[..., Coroutine[Any, Any, Result]]

_POLL = 0.1


class RoleFailed(RuntimeError):
    """A role raised, died, or gave no result in time; the message says which and why."""


def describe(exc: BaseException) -> str:
    """One line naming the exception, short enough for a table footnote."""
    detail = str(exc) or ("a bounded wait expired" if isinstance(exc, TimeoutError) else "")
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return " ".join(text.split())[:300]


def _run_role(
    key: str,
    role: Role,
    kwargs: dict[str, Any],
    results: multiprocessing.Queue[tuple[str, Result]],
) -> None:
    try:
        result = asyncio.run(role(**kwargs))
    except BaseException as exc:  # every failure, even Ctrl-C, is reported to the parent
        result = {"error": describe(exc)}
    results.put((key, result))


class ProcessGroup:
    """The processes of one scenario run; leaving the ``with`` block ends all of them."""

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._results: multiprocessing.Queue[tuple[str, Result]] = self._ctx.Queue()
        self._procs: dict[str, SpawnProcess] = {}
        self._arrived: dict[str, Result] = {}

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def event(self) -> Any:
        """An Event shared with the roles started later."""
        return self._ctx.Event()

    def queue(self) -> Any:
        """A Queue shared with the roles started later."""
        return self._ctx.Queue()

    def start(self, key: str, role: Role, **kwargs: Any) -> None:
        """Start ``role(**kwargs)`` in a new process; its result is collected under ``key``."""
        proc = self._ctx.Process(
            target=_run_role,
            args=(key, role, kwargs, self._results),
            name=f"bench-{key}",
            daemon=True,
        )
        proc.start()
        self._procs[key] = proc

    def _pull(self, timeout: float) -> None:
        try:
            key, result = self._results.get(timeout=timeout)
        except queue.Empty:
            return
        self._arrived[key] = result

    def _check(self, key: str) -> None:
        """Raise RoleFailed if ``key`` reported an error or died without reporting."""
        result = self._arrived.get(key)
        if result is not None and "error" in result:
            raise RoleFailed(f"{key}: {result['error']}")
        proc = self._procs[key]
        if result is None and not proc.is_alive():
            self._pull(1.0)  # the result may still be in the pipe
            if key not in self._arrived:
                raise RoleFailed(f"{key}: process exited with code {proc.exitcode}, no result")

    def result(self, key: str, *, timeout: float) -> Result:
        """Wait for ``key``'s result; RoleFailed if it failed or took longer than ``timeout``."""
        deadline = time.monotonic() + timeout
        while key not in self._arrived:
            self._check(key)
            if time.monotonic() > deadline:
                raise RoleFailed(f"{key}: no result within {timeout:.0f} s")
            self._pull(_POLL)
        self._check(key)
        return self._arrived[key]

    def receive_from(self, side_queue: Any, *, key: str, timeout: float) -> Any:
        """Wait for a value ``key`` puts on ``side_queue`` (e.g. its channel name)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return side_queue.get(timeout=_POLL)
            except queue.Empty:
                pass
            self._pull(0)
            self._check(key)
            if key in self._arrived:
                raise RoleFailed(f"{key}: finished without handing over a value")
            if time.monotonic() > deadline:
                raise RoleFailed(f"{key}: no value within {timeout:.0f} s")

    def close(self) -> None:
        """End every process of the group: a moment to exit, then SIGTERM, then SIGKILL."""
        for proc in self._procs.values():
            proc.join(timeout=2)
        for proc in self._procs.values():
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=3)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=3)
        self._results.close()
        self._results.cancel_join_thread()
