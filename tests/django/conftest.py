"""Django settings for the system-check tests: the app installed, no database.

Django is configured once per test run (settings are process-global); each test then sets
its own CHANNEL_LAYERS with ``override_settings``. The rest of the suite builds layers
directly and never reads Django settings, so configuring them here is harmless there.
"""

from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["amqp_channels.django"],
        DATABASES={},
        CHANNEL_LAYERS={},
        USE_TZ=True,
    )
    django.setup()
