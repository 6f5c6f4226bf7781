"""The ASGI application Daphne serves and ``runworker`` dispatches.

* ``http``: Django's views (the chat page);
* ``websocket``: the chat consumer (no auth middleware: the user name is a query parameter,
  this is a test project);
* ``channel``: the worker's normal channels, for ``manage.py runworker chat-tasks``.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from chatsite.telemetry import configure_from_environment

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
configure_from_environment()  # an OpenTelemetry SDK only if OTEL_* variables ask for one
# Django must be set up before the consumers (and their imports) load.
django_asgi = get_asgi_application()

from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.routing import channel_routes, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi,
    "websocket": URLRouter(websocket_urlpatterns),
    "channel": ChannelNameRouter(channel_routes),
})
