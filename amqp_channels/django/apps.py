"""The AppConfig: registers the system checks when Django starts.

The label is ``amqp_channels`` (not the default ``django``, which would clash with every
other app whose module ends in ``.django``), so check ids read ``amqp_channels.E001``.
Checks are registered in ``ready()`` rather than by decorators at import, so importing
``checks`` (as the tests do) has no side effect.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks as django_checks


class AMQPChannelsConfig(AppConfig):  # type: ignore[misc]
    """Registers the configuration check and the deploy-time broker check."""

    name = "amqp_channels.django"
    label = "amqp_channels"
    verbose_name = "AMQP channel layer"

    def ready(self) -> None:
        """Register E001 for every ``check`` and the broker probe for ``check --deploy``."""
        from .checks import TAG, check_broker_access, check_layer_config

        django_checks.register(check_layer_config, TAG)
        django_checks.register(check_broker_access, TAG, deploy=True)
