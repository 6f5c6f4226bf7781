"""The two-process demo: real processes talking through amqp_channels over a private RabbitMQ.

Run it with ``scripts/demo`` (or ``.venv/bin/python -m demo --help`` from the repository root).

Modules, one idea each:

- ``broker``: starts a private RabbitMQ node on free loopback ports and always stops it.
- ``crew``: spawns the OS processes, passes them control messages, and always ends them.
- ``roles``: what each process does with the channel layer (sender, receiver, ...).
- ``scenarios``: one function per experiment, wiring roles together and checking the result.
- ``report``: the human-readable summary.
- ``signals``: Ctrl-C and SIGTERM stop the demo once, and never cut its clean-up short.

Control traffic (who has which channel name, "done", measured numbers) travels over
multiprocessing queues, never over the layer, so the layer's own traffic is what is measured.
"""
