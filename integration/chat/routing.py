"""Where websocket paths and normal channels lead."""

from __future__ import annotations

from django.urls import re_path

from .consumers import ChatConsumer
from .names import NAME, TASK_CHANNEL
from .worker import TaskWorker

websocket_urlpatterns = [
    re_path(rf"^ws/chat/(?P<room>{NAME})/$", ChatConsumer.as_asgi()),
]

channel_routes = {TASK_CHANNEL: TaskWorker.as_asgi()}
