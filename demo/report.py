"""The human-readable summary of one demo run."""

from __future__ import annotations

from demo.scenarios import PingPongResult, StreamResult, WorkQueueResult


def render(
    *, broker: str, stream: StreamResult, ping: PingPongResult, work: WorkQueueResult
) -> str:
    """Return the report: what each experiment measured, then the verdict."""
    s, p, w = stream, ping, work
    workers = ", ".join(f"{name}: {n} tasks" for name, n in w.per_worker.items())
    lines = [
        "",
        f"amqp-channels demo over {broker}",
        "",
        f"one-way stream  process A -> process B's channel {s.channel}",
        f"  sent {s.sent}, received {s.received}: lost {s.lost}, duplicated {s.duplicated}, "
        f"out of order {s.out_of_order}, corrupted {s.corrupted}",
        f"  A sent {s.send_rate:,.0f} msg/s; end to end {s.end_to_end_rate:,.0f} msg/s "
        f"({s.sent} messages in {s.seconds:.2f} s); ChannelFull retries {s.full_retries}",
        f"ping-pong       {p.rounds} timed round trips, each process on its own channel",
        f"  round trip p50 {p.p50_ms:.2f} ms, p99 {p.p99_ms:.2f} ms, max {p.max_ms:.2f} ms; "
        f"wrong replies {p.mismatched}",
        f'work queue      {w.tasks} tasks on the normal channel "demo-tasks", '
        f"{len(w.per_worker)} competing workers",
        f"  {workers}; lost {w.lost}, delivered twice {w.duplicated}; "
        f"ChannelFull retries {w.full_retries}",
        "",
    ]
    problems = s.problems() + p.problems() + w.problems()
    if problems:
        lines.append("FAILED: " + "; ".join(problems))
    else:
        lines.append("OK: every message and every task arrived exactly once.")
    return "\n".join(lines)
