"""The human-readable summary of one Daphne demo run: a table per kind, then the verdict."""

from __future__ import annotations

import math

from demo.session import SessionResult
from demo.tally import KINDS

HEADER = (f"{'kind':<13}{'sent':>6}{'expected':>10}{'delivered':>11}{'lost':>6}"
          f"{'dup':>5}{'stray':>7}{'p50 ms':>9}{'p99 ms':>9}")


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def render(*, broker: str, processes: list[str], result: SessionResult) -> str:
    """Return the report: where things ran, what each kind of message did, the verdict."""
    lines = ["", f"amqp-channels Daphne demo over {broker}", "", *processes, ""]
    for daphne, tabs in result.tabs_per_daphne.items():
        lines.append(f"  {daphne}: {len(tabs)} clients ({', '.join(tabs)})")
    workers = ", ".join(map(str, sorted(result.worker_pids))) or "none"
    lines += [f"  task answers came from worker pid {workers}", "", HEADER]
    for kind in KINDS:
        s = result.stats[kind]
        lines.append(f"{kind:<13}{s.sent:>6}{s.expected:>10}{s.delivered:>11}{s.lost:>6}"
                     f"{s.duplicated:>5}{s.stray:>7}{_ms(s.p50_ms):>9}{_ms(s.p99_ms):>9}")
    lines += [
        "",
        "expected: deliveries (a broadcast counts once per client in the room); stray: "
        "delivered to a client it was not for",
        "latency: from the send to each delivery (time.monotonic() in the clients' process)",
        f"session took {result.seconds:.1f} s",
    ]
    for error in result.errors[:10]:
        lines.append(f"  error: {error}")
    if result.incomplete:
        lines.append(f"timed out waiting for: {', '.join(result.incomplete)}")
    problems = result.problems()
    if problems:
        lines.append("FAILED: " + "; ".join(problems))
    else:
        lines.append("OK: every message reached every client it was for, exactly once.")
    return "\n".join(lines)
