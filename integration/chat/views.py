"""HTTP: the chat page, and an announcement endpoint written as a plain sync Django view.

The announcement view is what a Django app does from code with no event loop (a view, a
signal, a Celery task): it publishes with ``amqp_channels.sync`` instead of
``async_to_sync(channel_layer.group_send)``, which would start an event loop in a new
thread per call (about 3x slower, even with the layer relaying the call over one connection).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from amqp_channels.sync import get_publisher
from chat.names import MAX_TEXT, NAME_RE, room_group


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/index.html")


@csrf_exempt  # an internal endpoint for the demo and tests; real apps put auth here
@require_POST
def announce(request: HttpRequest, room: str) -> HttpResponse:
    """Broadcast the request body's text to ``room`` as the user "server"."""
    text = request.body.decode("utf-8", errors="replace")
    if not NAME_RE.match(room) or not text or len(text) > MAX_TEXT:
        return HttpResponseBadRequest("room must be a chat name; text 1-2000 characters")
    get_publisher().group_send(room_group(room), {
        "type": "chat.message", "room": room, "user": "server", "text": text})
    return JsonResponse({"sent": True})
