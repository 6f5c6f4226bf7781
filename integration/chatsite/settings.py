"""Settings of the chat project: everything that differs per run comes from the environment.

``AMQP_URL`` (comma-separated for several cluster nodes) and ``AMQP_PREFIX`` pick the broker
and the layer's names, so the tests can point several processes at a private node. There is
no database: the chat keeps no state outside the channel layer.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "integration-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# amqp_channels.django first: its runworker (stops cleanly on SIGTERM) replaces Channels'.
INSTALLED_APPS = ["amqp_channels.django", "channels", "chat"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TIME_ZONE = "UTC"  # Django exports TZ to the process: logs then line up with the broker's

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "amqp_channels.layer.AMQPChannelLayer",
        "CONFIG": {
            "hosts": os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/").split(","),
            "prefix": os.environ.get("AMQP_PREFIX", "chat"),
            # Short enough that a broker outage shows up as an error frame, not a hang.
            "send_timeout": 5,
            # Span names per kind of group, not per room or user (see chatsite/telemetry.py
            # for turning tracing on).
            "tracing_name_templates": [("room-*", "room-{room}"), ("user-*", "user-{user}")],
        },
    },
}
if os.environ.get("CHAT_LAYER") == "redis":  # benchmarks/load.py compares with channels_redis
    # redis-py's pool allows 100 connections by default: too few for 500 websockets joining.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {
        "hosts": [{"address": os.environ["REDIS_URL"], "max_connections": 2000}]}}}

# Our loggers print on their own (runworker configures no root handler) and do not
# propagate, so lines are not doubled under Daphne, which does configure the root logger.
LOG_LEVEL = os.environ.get("CHAT_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)-8s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        name: {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}
        for name in ("amqp_channels", "chat")
    },
}
