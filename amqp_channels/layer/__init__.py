"""The Channels layer backend: ``amqp_channels.layer.AMQPChannelLayer``.

The backend class is assembled in ``amqp_channels.backend`` (the core channels of this
package plus the groups extension); it is resolved lazily here so the documented
``BACKEND`` path works without this package importing the layers above it at load time.
"""

from __future__ import annotations

from typing import Any

from .core import CoreChannelLayer

__all__ = ["AMQPChannelLayer", "CoreChannelLayer"]


def __getattr__(name: str) -> Any:
    if name == "AMQPChannelLayer":
        from ..backend import AMQPChannelLayer

        return AMQPChannelLayer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
