"""The demos: the chat project under two Daphnes (the default), and the layer alone.

Run them with ``scripts/demo`` (or ``.venv/bin/python -m demo --help`` from the repository
root); ``--two-processes`` picks the layer-only demo.

The Daphne demo (``chat_demo``), one idea per module:

- ``broker``: starts a private RabbitMQ node on free loopback ports and always stops it.
- ``deploy``: two Daphnes and ``runworker chat-tasks`` for ``integration/chatsite``, always
  stopped (process handling comes from ``integration/tests/processes.py``).
- ``session``: scripted websocket clients on both Daphnes, one method per kind of message.
- ``tally``: expected deliveries against received frames: lost, duplicated, stray, latency.
- ``chat_report``: the human-readable summary.
- ``signals``: Ctrl-C and SIGTERM stop the demo once, and never cut its clean-up short.

The layer-only demo (``two_processes``): ``crew`` spawns plain processes, ``roles`` is what
each does with the layer, ``scenarios`` wires them into three experiments, ``report`` prints
them. Its control traffic travels over multiprocessing queues, never over the layer, so the
layer's own traffic is what is measured.
"""
