"""Start and stop a private RabbitMQ node on loopback, for tests, the demo and benchmarks.

Why it exists: every real-broker check in this project runs against its own node with its
own ports, node name and data directory, so nothing depends on (or disturbs) a system
RabbitMQ. The node runs Debian's ``rabbitmq-server`` without the service wrapper.

Usage from a shell::

    python tools/rabbitmq_node.py start /tmp/node --port 5680
    python tools/rabbitmq_node.py stop /tmp/node
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import string
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Debian's rabbitmq-server; another install (e.g. RabbitMQ 4 in a Debian 13 chroot, through
# wrapper scripts) can be named with AMQP_CHANNELS_RABBITMQ_SBIN.
SBIN = Path(os.environ.get("AMQP_CHANNELS_RABBITMQ_SBIN", "/usr/lib/rabbitmq/bin"))


# Share of RAM the node may use before its memory alarm blocks publishers (RabbitMQ's
# default is 0.4; tests run many nodes side by side).
MEMORY_WATERMARK = 0.2


class BrokerUnavailable(RuntimeError):
    """The RabbitMQ node could not be started or reached."""


@dataclass
class RabbitMQNode:
    """One private RabbitMQ node: loopback-only AMQP, management and distribution ports."""

    base_dir: Path
    port: int = 5680
    management_port: int = 15680
    node_name: str = field(default="")
    tls_port: int | None = None  # also listen for amqps:// there, with a self-made CA
    management_tls_port: int | None = None  # and for the management API over https

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir).resolve()
        if not self.node_name:
            # Unique per start, so two runs on one machine never clash in epmd.
            self.node_name = f"amqpch{self.port}x{os.getpid()}@localhost"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    @property
    def management_tls_url(self) -> str:
        """The management API over https (the certificate names localhost and 127.0.0.1)."""
        return f"https://localhost:{self.management_tls_port}"

    @property
    def env(self) -> dict[str, str]:
        d = self.base_dir
        env = dict(os.environ)
        env.update(
            HOME=str(d),
            RABBITMQ_NODENAME=self.node_name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.port + 20000),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq"),
            RABBITMQ_PID_FILE=str(d / "pid"),
            ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_SERVER_START_ARGS=(
                f"-rabbitmq_management listener [{{port,{self.management_port}}},"
                '{ip,"127.0.0.1"}] -kernel inet_dist_use_interface {127,0,0,1}'
            ),
        )
        return env

    def start(self, timeout: float = 90.0) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        if not (SBIN / "rabbitmq-server").exists():
            raise BrokerUnavailable(
                "rabbitmq-server is not installed; run: apt-get install -y rabbitmq-server"
            )
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "log").mkdir(exist_ok=True)
        self._write_cookie()
        (self.base_dir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        # loopback_users = none lets guest log in over 127.0.0.1 only (we bind nowhere else).
        conf = ("loopback_users.guest = true\nlog.console = false\n"
                f"vm_memory_high_watermark.relative = {MEMORY_WATERMARK}\n")
        tls = self.base_dir / "tls"

        def certificates(section: str) -> str:
            return "".join(f"{section}.{key} = {tls / name}\n" for key, name in (
                ("cacertfile", "ca.pem"), ("certfile", "server.pem"), ("keyfile", "server.key")))

        if self.tls_port is not None or self.management_tls_port is not None:
            self.make_certificates()
        if self.tls_port is not None:
            conf += (f"listeners.ssl.1 = 127.0.0.1:{self.tls_port}\n"
                     + certificates("ssl_options")
                     + "ssl_options.verify = verify_none\n"
                     "ssl_options.fail_if_no_peer_cert = false\n")
        if self.management_tls_port is not None:
            conf += (f"management.ssl.port = {self.management_tls_port}\n"
                     "management.ssl.ip = 127.0.0.1\n"
                     + certificates("management.ssl"))
        (self.base_dir / "rabbitmq.conf").write_text(conf)
        with open(self.base_dir / "out.log", "ab") as out:
            self._proc = subprocess.Popen(
                [str(SBIN / "rabbitmq-server")],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait(timeout)

    def _write_cookie(self) -> None:
        """The Erlang cookie, made before the node starts: otherwise the node and the
        ``rabbitmqctl wait`` started right after it may each create one (HOME is ours) and
        then refuse each other ("Invalid challenge reply") until the start times out."""
        cookie = self.base_dir / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(20)))
            cookie.chmod(0o400)

    @property
    def ca_file(self) -> Path:
        """The CA that signed the node's TLS certificate (for ``ssl={"cafile": ...}``)."""
        return self.base_dir / "tls" / "ca.pem"

    def make_certificates(self) -> None:
        """A throwaway CA and a server certificate for ``localhost``, made with openssl."""
        tls = self.base_dir / "tls"
        tls.mkdir(parents=True, exist_ok=True)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=tls, check=True, capture_output=True,
                           timeout=60)

        # Extensions as a real CA sets them: Python 3.13's default context verifies strictly
        # (VERIFY_X509_STRICT) and refuses a CA without keyUsage or a leaf without an AKI.
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=amqp-channels test CA", "-keyout", "ca.key", "-out", "ca.pem",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                "-keyout", "server.key", "-out", "server.csr")
        (tls / "san.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid,issuer\n"
        )
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
        for name in ("server.key", "server.pem", "ca.pem"):
            (tls / name).chmod(0o644)

    def wait(self, timeout: float = 90.0) -> None:
        """Block until the node is booted, or raise BrokerUnavailable after ``timeout``."""
        result = self.ctl("wait", str(self.base_dir / "pid"), "--timeout", str(int(timeout)),
                          timeout=timeout + 10, check=False)
        if result.returncode != 0:
            self._kill()
            log = (self.base_dir / "out.log").read_text(errors="replace")[-2000:]
            raise BrokerUnavailable(f"RabbitMQ node {self.node_name} did not start:\n{log}")

    def _kill(self) -> None:
        """Kill and reap a node that failed to start (nothing of it may outlive us)."""
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def ctl(self, *args: str, timeout: float = 60.0, check: bool = True
            ) -> subprocess.CompletedProcess[str]:
        """Run rabbitmqctl against this node."""
        return subprocess.run(
            [str(SBIN / "rabbitmqctl"), "-n", self.node_name, *args],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=check,
        )

    def stop_app(self) -> None:
        """Stop the RabbitMQ application (connections drop, the Erlang VM stays)."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Inside the block the broker answers nothing yet keeps every socket open (its VM
        is stopped with SIGSTOP), as a hung or partitioned node does."""
        pid = int((self.base_dir / "pid").read_text().strip())
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    @contextlib.contextmanager
    def memory_alarm(self, timeout: float = 10.0) -> Iterator[None]:
        """Inside the block the node's memory alarm is on, so RabbitMQ blocks every
        connection that publishes (Connection.Blocked) as it does when a real broker runs
        short of memory; consuming goes on."""
        self.ctl("set_vm_memory_high_watermark", "0.000001")
        try:
            self._await_alarm(True, timeout)
            yield
        finally:
            self.ctl("set_vm_memory_high_watermark", str(MEMORY_WATERMARK))
            self._await_alarm(False, timeout)

    @contextlib.contextmanager
    def max_message_size(self, size: int) -> Iterator[None]:
        """Inside the block the node refuses messages over ``size`` bytes, as a broker
        configured below the layer's ``max_message_size`` does (AMQP channels opened
        inside the block see the limit)."""
        self.ctl("eval", f"application:set_env(rabbit, max_message_size, {size}).")
        try:
            yield
        finally:
            self.ctl("eval", "application:unset_env(rabbit, max_message_size).")

    def _await_alarm(self, on: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while ("memory" in self.ctl("eval", "rabbit_alarm:get_alarms().").stdout) != on:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"memory alarm still {'off' if on else 'on'}")
            time.sleep(0.05)

    def close_all_connections(self, reason: str = "closed by test") -> None:
        """Close every client connection from the broker side."""
        self.ctl("close_all_connections", reason)

    def connection_names(self) -> list[str]:
        """The ``connection_name`` of every open client connection (no management lag)."""
        import json

        out = self.ctl("list_connections", "client_properties", "--formatter", "json", "-q").stdout
        names = []
        for row in json.loads(out or "[]"):
            props = row.get("client_properties", [])
            # rabbitmqctl renders the AMQP table as [name, type, value] triples.
            for entry in props:
                if isinstance(entry, list) and entry and entry[0] == "connection_name":
                    names.append(str(entry[-1]))
            if isinstance(props, dict) and "connection_name" in props:
                names.append(str(props["connection_name"]))
        return names

    @property
    def log_file(self) -> Path:
        return self.base_dir / "log" / f"{self.node_name}.log"

    def closing_records(self, connection_name: str) -> list[str]:
        """The node log's records of closing the connection named ``connection_name``.

        A client's Connection.Close is logged at [info] as ``closing AMQP connection ...``; a
        dropped socket at [warning], followed by ``client unexpectedly closed TCP
        connection`` on the next line, which is kept in the record."""
        records: list[str] = []
        lines = self.log_file.read_text(errors="replace").splitlines()
        for number, line in enumerate(lines):
            if "closing AMQP connection" in line and f" - {connection_name}" in line:
                follow = lines[number + 1: number + 2]
                reason = follow[0] if follow and not follow[0][:4].isdigit() else ""
                records.append(f"{line}\n{reason}".rstrip())
        return records

    def management_get(self, path: str) -> Any:
        """GET a management API path (e.g. ``/api/queues``) as guest and decode the JSON."""
        return self.management("GET", path)

    def management(self, method: str, path: str, body: Any = None) -> Any:
        """Call the management API as guest (``PUT /api/policies/...`` with a JSON ``body``);
        the decoded JSON reply, or None when it has no body."""
        import base64
        import json

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.management_url + path, data=data, method=method)
        req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            reply = resp.read()
        return json.loads(reply) if reply else None

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node; kill it if it does not stop within ``timeout``."""
        pid_file = self.base_dir / "pid"
        try:
            self.ctl("stop", str(pid_file), timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            pass
        proc = getattr(self, "_proc", None)
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        elif pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass

    def wipe(self) -> None:
        shutil.rmtree(self.base_dir, ignore_errors=True)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("base_dir", type=Path)
    parser.add_argument("--port", type=int, default=5680)
    parser.add_argument("--management-port", type=int, default=15680)
    args = parser.parse_args(argv)
    node = RabbitMQNode(args.base_dir, port=args.port, management_port=args.management_port)
    started = time.monotonic()
    try:
        if args.action == "start":
            node.start()
            took = time.monotonic() - started
            print(f"RabbitMQ {node.node_name} up at {node.url} in {took:.1f}s")
        else:
            node.stop()
    except BrokerUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
