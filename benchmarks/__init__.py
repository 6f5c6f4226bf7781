"""Side-by-side benchmarks of amqp_channels against other channel layers; see README.md."""
