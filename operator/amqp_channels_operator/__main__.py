"""``python -m amqp_channels_operator reconcile|run``: see ``cli``."""

import sys

from .cli import main

sys.exit(main())
