"""The amqp-channels operator: provisions on an existing RabbitMQ what a Channels deployment
needs (vhost, user, permissions, limit policies) and writes the connection Secret.

Layers, top to bottom: ``handlers`` (kopf) and ``cli`` (one-shot) drive ``reconcile``, which
applies the pure ``desired`` state through ``management`` (the RabbitMQ HTTP API) and hands
the ``connection_secret`` to a ``secret_store``. Only ``handlers`` and ``secret_store`` know
Kubernetes.
"""

GROUP = "amqp-channels.io"
VERSION = "v1alpha1"
PLURAL = "channellayers"
KIND = "ChannelLayer"
