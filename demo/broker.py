"""A private RabbitMQ node for one demo run, on free loopback ports, stopped whatever happens.

The node itself is ``tools/rabbitmq_node.py`` (shared with the tests and benchmarks); this
module only chooses ports, owns the temporary data directory and guarantees the stop.
"""

from __future__ import annotations

import contextlib
import importlib.util
import random
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from demo import signals

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_TOOL = REPO_ROOT / "tools" / "rabbitmq_node.py"
RABBITMQCTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")

# rabbitmq_node.py puts the Erlang distribution port at AMQP port + 20000.
DIST_PORT_OFFSET = 20000


class BrokerError(RuntimeError):
    """The private node could not be started."""


def _load_node_tool() -> ModuleType:
    # tools/ is a folder of scripts, not a package: load the file by path.
    spec = importlib.util.spec_from_file_location("rabbitmq_node", NODE_TOOL)
    if spec is None or spec.loader is None:
        raise BrokerError(f"cannot load {NODE_TOOL}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(attempts: int = 200) -> tuple[int, int]:
    """Return (amqp_port, management_port), each free on 127.0.0.1 with its dist port."""
    rng = random.Random()
    for _ in range(attempts):
        # Away from the test fixtures' range (21000-30000, dist +20000), so a demo and a test
        # run started side by side do not race for the same ports.
        amqp = rng.randrange(30000, 32700)
        management = rng.randrange(10000, 20000)
        if all(map(_port_is_free, (amqp, amqp + DIST_PORT_OFFSET, management))):
            return amqp, management
    raise BrokerError(f"found no free loopback ports in {attempts} attempts")


@contextmanager
def private_node(port: int | None = None, management_port: int | None = None) -> Iterator[Any]:
    """Start a private node (free ports unless given), yield it, then stop it and wipe its data."""
    tool = _load_node_tool()
    if port is None or management_port is None:
        port, management_port = free_ports()
    base_dir = Path(tempfile.mkdtemp(prefix="amqp-channels-demo-"))
    node = tool.RabbitMQNode(base_dir, port=port, management_port=management_port)
    try:
        started = time.monotonic()
        try:
            # Erlang writes erl_crash.dump into its working directory: keep it in base_dir.
            with contextlib.chdir(base_dir):
                node.start(timeout=90.0)
        except tool.BrokerUnavailable as exc:
            raise BrokerError(str(exc)) from exc
        node.startup_seconds = time.monotonic() - started
        yield node
    finally:
        with signals.deferred():
            # rabbitmqctl is there whenever a node could have been started at all.
            if RABBITMQCTL.exists():
                with contextlib.chdir(base_dir):
                    node.stop(timeout=30.0)
            shutil.rmtree(base_dir, ignore_errors=True)


def broker_version(node: Any) -> str:
    """The node's RabbitMQ version from the management API, or "?" when it does not answer."""
    try:
        overview = node.management_get("/api/overview")
        return str(overview["rabbitmq_version"])
    except Exception:
        return "?"
