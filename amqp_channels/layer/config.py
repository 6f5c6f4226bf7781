"""The layer's CONFIG keys: defaults, validation and the checked settings object.

Everything a user can get wrong in ``CHANNEL_LAYERS`` is caught here, at construction, with
an error that names the key and what it accepts. The rest of the layer trusts ``LayerConfig``.
Key names follow channels_redis where the meaning is the same, so switching is a rename of
``BACKEND`` and ``hosts``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
import ssl as ssl_module
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..telemetry import NameTemplates, Telemetry
from ..telemetry.names import compile_rules

QUEUE_TYPES = ("classic", "quorum")
# Where queue limits (TTL, max length, overflow) live: declared arguments, or RabbitMQ policies.
QUEUE_LIMITS = ("arguments", "policy")
SERIALIZERS = ("msgpack", "json")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SSL_OPTIONS = ("cafile", "capath", "cadata", "certfile", "keyfile", "check_hostname", "verify")

DEFAULTS: dict[str, Any] = {
    "hosts": ("amqp://guest:guest@localhost:5672/",),
    "prefix": "asgi",
    "expiry": 60,
    "capacity": 100,
    "channel_capacity": None,
    "group_expiry": 86400,
    # A fanout exchange per group (visible in the management UI); False binds member queues
    # to the groups router directly, which makes joining and leaving groups 3x cheaper.
    "group_exchanges": True,
    "ssl": None,
    "queue_type": "classic",
    "queue_limits": "arguments",
    "max_message_size": 16 * 1024 * 1024,  # RabbitMQ 4.x's own default max_message_size
    "serializer": "msgpack",
    "symmetric_encryption_keys": None,
    "send_timeout": 10.0,
    "connect_timeout": 10.0,
    "prefetch_count": 500,
    # OpenTelemetry (see amqp_channels/telemetry): on by default, costs nothing without an SDK
    "telemetry": True,
    "tracing_name_templates": None,
    "tracer_provider": None,
    "meter_provider": None,
}


@dataclass(frozen=True)
class LayerConfig:
    """Validated layer settings; build it with ``LayerConfig.from_kwargs``."""

    hosts: tuple[str, ...]
    prefix: str
    expiry: float
    capacity: int
    channel_capacity: tuple[tuple[re.Pattern[str], int], ...]
    group_expiry: float | None
    group_exchanges: bool
    ssl: ssl_module.SSLContext | None
    queue_type: str
    queue_limits: str
    max_message_size: int
    serializer: str
    symmetric_encryption_keys: tuple[bytes, ...]
    send_timeout: float
    connect_timeout: float
    prefetch_count: int
    telemetry: bool
    tracing_name_templates: tuple[tuple[re.Pattern[str], str], ...]
    tracer_provider: Any
    meter_provider: Any

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> LayerConfig:
        """Check every key; raise ``ValueError``/``TypeError`` naming the first bad one."""
        unknown = sorted(set(kwargs) - set(DEFAULTS))
        if unknown:
            raise ValueError(
                f"unknown CONFIG key(s) {', '.join(map(repr, unknown))}; "
                f"accepted keys are {', '.join(sorted(DEFAULTS))}"
            )
        raw = {**DEFAULTS, **kwargs}
        group_expiry = raw["group_expiry"]
        return cls(
            hosts=_hosts(raw["hosts"]),
            prefix=_name("prefix", raw["prefix"]),
            expiry=_positive_number("expiry", raw["expiry"]),
            capacity=_positive_int("capacity", raw["capacity"]),
            channel_capacity=_channel_capacity(raw["channel_capacity"]),
            group_expiry=(
                None
                if group_expiry in (None, 0)
                else _positive_number("group_expiry", group_expiry)
            ),
            group_exchanges=_bool("group_exchanges", raw["group_exchanges"]),
            ssl=_ssl(raw["ssl"]),
            queue_type=_choice("queue_type", raw["queue_type"], QUEUE_TYPES),
            queue_limits=_choice("queue_limits", raw["queue_limits"], QUEUE_LIMITS),
            max_message_size=_positive_int("max_message_size", raw["max_message_size"]),
            serializer=_choice("serializer", raw["serializer"], SERIALIZERS),
            symmetric_encryption_keys=_keys(raw["symmetric_encryption_keys"]),
            send_timeout=_positive_number("send_timeout", raw["send_timeout"]),
            connect_timeout=_positive_number("connect_timeout", raw["connect_timeout"]),
            prefetch_count=_positive_int("prefetch_count", raw["prefetch_count"]),
            telemetry=_bool("telemetry", raw["telemetry"]),
            tracing_name_templates=compile_rules(raw["tracing_name_templates"]),
            tracer_provider=_provider("tracer_provider", raw["tracer_provider"], "get_tracer"),
            meter_provider=_provider("meter_provider", raw["meter_provider"], "get_meter"),
        )

    def make_telemetry(self) -> Telemetry:
        """The tracing and metrics switches these settings ask for."""
        return Telemetry(enabled=self.telemetry, names=NameTemplates(self.tracing_name_templates),
                         tracer_provider=self.tracer_provider,
                         meter_provider=self.meter_provider)

    @property
    def redacted_hosts(self) -> tuple[str, ...]:
        """``hosts`` with passwords masked, for errors and logs."""
        return tuple(_redact(h) for h in self.hosts)

    def capacity_for(self, channel: str) -> int:
        """The capacity of ``channel``: the first matching ``channel_capacity`` entry, or
        ``capacity``. Process-specific channels match on the part up to and including '!'."""
        if "!" in channel:
            channel = channel[: channel.index("!") + 1]
        for pattern, capacity in self.channel_capacity:
            if pattern.match(channel):
                return capacity
        return self.capacity


def _hosts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise TypeError(f"CONFIG 'hosts' must be a non-empty list of AMQP URLs, got {value!r}")
    for url in value:
        if not isinstance(url, str):
            raise TypeError(f"CONFIG 'hosts' entries must be URL strings, got {url!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise ValueError(
                f"CONFIG 'hosts' entry {_redact(url)!r} is not an amqp:// or amqps:// URL"
            )
    return tuple(value)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _name(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"CONFIG {key!r} must be a string, got {value!r}")
    if not NAME_RE.match(value):
        raise ValueError(
            f"CONFIG {key!r} must be 1-64 ASCII letters, digits, '-', '_' or '.', got {value!r}"
        )
    return value


def _positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"CONFIG {key!r} must be a number of seconds, got {value!r}")
    if not value > 0:
        raise ValueError(f"CONFIG {key!r} must be greater than 0, got {value!r}")
    return float(value)


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"CONFIG {key!r} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"CONFIG {key!r} must be at least 1, got {value!r}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"CONFIG {key!r} must be True or False, got {value!r}")
    return value


def _provider(key: str, value: Any, method: str) -> Any:
    if value is not None and not callable(getattr(value, method, None)):
        raise TypeError(f"CONFIG {key!r} must be an OpenTelemetry provider (with .{method}()) "
                        f"or None, got {value!r}")
    return value


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"CONFIG {key!r} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _channel_capacity(value: Any) -> tuple[tuple[re.Pattern[str], int], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise TypeError(
            f"CONFIG 'channel_capacity' must be a dict of pattern: capacity, got {value!r}"
        )
    compiled = []
    for pattern, capacity in value.items():
        if isinstance(pattern, str):
            pattern = re.compile(fnmatch.translate(pattern))
        elif not isinstance(pattern, re.Pattern):
            raise TypeError(
                f"CONFIG 'channel_capacity' keys must be glob strings or compiled regexes, "
                f"got {pattern!r}"
            )
        compiled.append((pattern, _positive_int("channel_capacity", capacity)))
    return tuple(compiled)


def _ssl(value: Any) -> ssl_module.SSLContext | None:
    if value is None or isinstance(value, ssl_module.SSLContext):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"CONFIG 'ssl' must be an ssl.SSLContext or a dict, got {value!r}")
    unknown = sorted(set(value) - set(SSL_OPTIONS))
    if unknown:
        raise ValueError(
            f"CONFIG 'ssl' has unknown option(s) {unknown}; accepted: {', '.join(SSL_OPTIONS)}"
        )
    context = ssl_module.create_default_context(
        cafile=value.get("cafile"), capath=value.get("capath"), cadata=value.get("cadata")
    )
    if value.get("certfile"):
        context.load_cert_chain(value["certfile"], value.get("keyfile"))
    if value.get("verify", True) is False:
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    elif "check_hostname" in value:
        context.check_hostname = bool(value["check_hostname"])
    return context


def _keys(value: Any) -> tuple[bytes, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not value:
        raise TypeError(
            "CONFIG 'symmetric_encryption_keys' must be a non-empty list of strings or bytes"
        )
    keys = []
    for key in value:
        if isinstance(key, str):
            key = key.encode("utf-8")
        if not isinstance(key, bytes) or not key:
            raise TypeError(
                "CONFIG 'symmetric_encryption_keys' entries must be non-empty str/bytes"
            )
        # Same derivation as channels_redis, so a shared SECRET_KEY-style secret works for both.
        keys.append(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))
    return tuple(keys)
