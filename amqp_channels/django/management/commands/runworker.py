"""``manage.py runworker`` with the worker that stops cleanly (``amqp_channels.django.worker``).

It replaces Channels' command of the same name when ``amqp_channels.django`` comes before
``channels`` in ``INSTALLED_APPS`` (Django takes a command from the first app that has it).
Arguments and behaviour are Channels' own, except for SIGTERM and SIGINT.
"""

from __future__ import annotations

from channels.management.commands.runworker import Command as ChannelsRunworker

from ...worker import StoppableWorker


class Command(ChannelsRunworker):  # type: ignore[misc]
    help = "Runs a Channels worker; SIGTERM or SIGINT stop it without losing messages."
    worker_class = StoppableWorker
