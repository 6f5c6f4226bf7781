"""What the numbers were measured on: CPUs, Python, broker and library versions.

Why: a benchmark result without its machine cannot be compared with the next one.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

_PACKAGES = (
    "amqp-channels",
    "channels",
    "channels-redis",
    "channels-rabbitmq",
    "aio-pika",
    "aiormq",
    "msgpack",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info(
    *, rabbitmq_version: str, redis_version: str, loadavg_before: float
) -> dict[str, object]:
    """A flat description of this machine and the software under test.

    ``loadavg_before`` is the 1-minute load average taken before the run started: other
    work on the machine skews every number, and this says how much there was.
    """
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "load before run": round(loadavg_before, 2),
        "cpu": _cpu_model(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "rabbitmq": rabbitmq_version,
        "redis": redis_version,
        **{package: _version(package) for package in _PACKAGES},
    }
