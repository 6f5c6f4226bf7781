"""HTTP routes: the chat page and the sync announcement view; chat is over the websocket."""

from __future__ import annotations

from django.urls import path

from chat.views import announce, index

urlpatterns = [
    path("", index, name="index"),
    path("announce/<str:room>/", announce, name="announce"),
]
