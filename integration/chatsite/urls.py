"""HTTP routes: only the chat page; everything else happens over the websocket."""

from __future__ import annotations

from django.urls import path

from chat.views import index

urlpatterns = [path("", index, name="index")]
