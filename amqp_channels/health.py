"""The health check Kubernetes probes run: ``python -m amqp_channels.health``.

Why it exists: a pod should take traffic (readiness) only while its channel layer can reach
the broker. The check reads the layer's settings the way the application does (Django
settings from ``DJANGO_SETTINGS_MODULE`` or ``--settings``; without them the environment
variables of docs/deployment-contract.md), connects to every host in ``hosts`` at once and
passively declares the ``{prefix}.groups`` router; where no process has declared it yet it
declares it as the layer would, which also proves the configure permission.

Guarantees: exit 0 when at least one host answers (the layer fails over to it), 1 otherwise
or when the settings are unusable; one line on stdout saying why; done within
``--timeout`` seconds plus at most 1 s of closing, whatever the network does. The full
permission round (declare, bind, delete) is ``manage.py check --deploy``'s job: a probe runs
every few seconds in every pod, and each declare is a metadata write on RabbitMQ 4.2+.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from . import amqp
from .amqp.errors import NotFound
from .amqp.url import parse_url
from .django.checks import BACKENDS
from .django.probe import probe
from .layer.config import LayerConfig
from .layer.naming import ROUTER_TYPE, group_router
from .settings import channel_layers_from_env

__all__ = ["check", "load_config", "main"]

DEFAULT_TIMEOUT = 5.0


def load_config(alias: str = "default") -> LayerConfig:
    """The checked CONFIG of ``CHANNEL_LAYERS[alias]``; ``ValueError`` says what is wrong."""
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    layers: Any
    if module:
        try:
            layers = getattr(settings, "CHANNEL_LAYERS", None)
        except Exception as exc:  # the settings module itself failed: report, don't crash
            raise ValueError(f"cannot load Django settings {module!r}: {exc}") from exc
        where = f"{module}.CHANNEL_LAYERS"
    else:
        layers = channel_layers_from_env()
        where = "CHANNEL_LAYERS from the environment"
    entry = layers.get(alias) if isinstance(layers, Mapping) else None
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} has no layer {alias!r}")
    if entry.get("BACKEND") not in BACKENDS:
        raise ValueError(f"{where}[{alias!r}] uses BACKEND {entry.get('BACKEND')!r}, "
                         f"not amqp-channels")
    try:
        return LayerConfig.from_kwargs(**entry.get("CONFIG", {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}[{alias!r}]: {exc}") from exc


async def _router_reachable(connection: amqp.Connection, prefix: str, timeout: float) -> None:
    router = group_router(prefix)
    channel = await connection.channel(timeout=timeout)
    try:
        await channel.exchange_declare(router, ROUTER_TYPE, passive=True, timeout=timeout)
    except NotFound:  # no process has used groups under this prefix yet; the channel closed
        channel = await connection.channel(timeout=timeout)
        await channel.exchange_declare(router, ROUTER_TYPE, timeout=timeout)
    await channel.close(timeout=timeout)


async def check(config: LayerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """``None`` as soon as one host answers, else one line naming every host's failure."""
    probes = {asyncio.ensure_future(probe(url, config.prefix, ssl=config.ssl, timeout=timeout,
                                          exercise=_router_reachable, purpose="health")): url
              for url in config.hosts}
    failures: list[str] = []
    try:
        for finished in asyncio.as_completed(probes, timeout=timeout):
            failure = await finished
            if failure is None:
                return None
            failures.append(failure.message)
    except TimeoutError:
        failures.extend(f"RabbitMQ at {parse_url(url, heartbeat=0).address} did not answer "
                        f"within {timeout}s" for task, url in probes.items() if not task.done())
    finally:
        for task in probes:  # a probe cancelled mid-way still closes its socket (<= 1 s)
            task.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
    return "; ".join(failures)


def _report(alias: str, timeout: float) -> tuple[bool, str]:
    try:
        config = load_config(alias)
    except ValueError as exc:
        return False, f"cannot build the layer's settings: {' '.join(str(exc).split())}"
    problem = asyncio.run(check(config, timeout=timeout))
    if problem is not None:
        return False, problem
    return True, f"a broker of {len(config.hosts)} host(s) answers; prefix {config.prefix!r}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; print one line; return the exit status (0 healthy, 1 unhealthy)."""
    parser = argparse.ArgumentParser(prog="python -m amqp_channels.health",
                                     description="Exit 0 if the channel layer's broker "
                                                 "answers, 1 otherwise.")
    parser.add_argument("--alias", default="default", help="the CHANNEL_LAYERS entry")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds the whole check may take (default %(default)s)")
    parser.add_argument("--settings", help="Django settings module (else "
                                           "DJANGO_SETTINGS_MODULE, else the environment)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be greater than 0, got {args.timeout}")
    if args.settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = args.settings
    healthy, why = _report(args.alias, args.timeout)
    print(f"{'healthy' if healthy else 'unhealthy'}: {why}", flush=True)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
