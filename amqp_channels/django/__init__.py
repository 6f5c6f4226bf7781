"""The Django app of amqp-channels: add ``"amqp_channels.django"`` to ``INSTALLED_APPS``.

Why it exists: a mistake in ``CHANNEL_LAYERS`` otherwise surfaces only when the first
websocket connects, and missing broker permissions only under load. With the app installed,
``manage.py check`` validates every layer's CONFIG and ``manage.py check --deploy`` proves
the broker is reachable with the permissions the layer needs. It defines no models.
"""
