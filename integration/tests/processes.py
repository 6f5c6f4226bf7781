"""The real processes of the chat project, started and stopped by the tests.

Why it exists: the end-to-end tests must run Daphne and ``runworker`` exactly as a deploy
does (separate OS processes, configured only through the environment) and must never leave
one behind. Every ``Service`` logs to its own file (shown when it fails to start), waits for
readiness with a deadline, and stops with SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

INTEGRATION = Path(__file__).resolve().parents[1]  # the project's working directory
REPO = INTEGRATION.parent
START_TIMEOUT = 30.0
STOP_GRACE = 10.0


def free_port() -> int:
    """A loopback port free right now (the OS picks it; we release it for the child)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project_env(amqp_url: str, prefix: str) -> dict[str, str]:
    """The environment every process of the project gets: broker, prefix, import paths."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="chatsite.settings",
        AMQP_URL=amqp_url,
        AMQP_PREFIX=prefix,
        PYTHONPATH=os.pathsep.join([str(INTEGRATION), str(REPO)]),
        PYTHONUNBUFFERED="1",
    )
    return env


def traced_env(env: dict[str, str], name: str, directory: Path) -> dict[str, str]:
    """``env`` for process ``name``, exporting its spans as JSON lines to
    ``directory/NAME.spans.jsonl`` (integration/chatsite/telemetry.py) as service ``name``."""
    return {**env, "AMQP_CHANNELS_TRACE_FILE": str(spans_file(directory, name)),
            "OTEL_SERVICE_NAME": name}


def spans_file(directory: Path, name: str) -> Path:
    return directory / f"{name}.spans.jsonl"


class Service:
    """One child process of the project, with its log file and lifecycle."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")
        self._proc = subprocess.Popen(self.argv, cwd=INTEGRATION, env=self.env,
                                      stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} was not started"
        return self._proc.pid

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_until(self, ready: Callable[[], bool], what: str,
                   timeout: float = START_TIMEOUT) -> None:
        """Poll ``ready`` until it is true; fail with the log if the process dies or time runs
        out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running():
                raise RuntimeError(f"{self.name} exited before {what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no {what} within {timeout}s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no goodbye to the broker or clients."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGKILL)
        self.stop()

    def stop(self) -> None:
        """SIGTERM, SIGKILL after ``STOP_GRACE``, then reap the process and close the log."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_GRACE)
        if self._log is not None:
            self._log.close()
            self._log = None


class Daphne(Service):
    """``daphne -b 127.0.0.1 -p PORT chatsite.asgi:application``; ready when / answers."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(name, self.command(self.port), env, log_dir)

    @staticmethod
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                "chatsite.asgi:application"]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def ws_url(self, room: str, user: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/{room}/?user={user}"

    def serves_http(self) -> bool:
        try:
            with urllib.request.urlopen(self.http_url, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def start(self) -> None:
        super().start()
        self.wait_until(self.serves_http, "HTTP answer")


class Uvicorn(Daphne):
    """The same application under uvicorn on uvloop, as ``uvicorn[standard]`` serves it."""

    @staticmethod
    def command(port: int) -> list[str]:
        # No lifespan: Channels' router does not speak it (uvicorn would log that it tried).
        return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
                "--loop", "uvloop", "--ws", "websockets", "--lifespan", "off",
                "chatsite.asgi:application"]


def manage(*args: str, env: dict[str, str], timeout: float = 60.0
           ) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py ARGS`` to completion (bounded), capturing its output."""
    return subprocess.run([sys.executable, "manage.py", *args], cwd=INTEGRATION, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
