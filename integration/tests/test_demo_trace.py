"""``python -m demo --trace``: the demo ends with one broadcast's span tree, and that tree
is one trace across both Daphne processes (checked against the span files they wrote)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .processes import REPO, spans_file

DEMO_TIMEOUT = 240.0  # the whole run: its own broker, two Daphnes, a worker, a short session


def test_demo_trace_shows_a_broadcast_across_both_daphnes() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OTEL_TRACES_EXPORTER", "AMQP_CHANNELS_TRACE_FILE")}
    run = subprocess.run(
        [sys.executable, "-m", "demo", "--trace", "--messages", "3", "--tasks-per-client", "1",
         "--timeout", "30"],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=DEMO_TIMEOUT)
    out = run.stdout
    kept = re.search(r"process logs kept in (\S+)", out)
    try:
        assert run.returncode == 0, out[-4000:] + run.stderr[-2000:]
        header = re.search(r"one broadcast as one trace \(([0-9a-f]{32})\): \d+ spans in "
                           r"daphne1, daphne2", out)
        assert header, out[-4000:]
        rows = [line.split() for line in out[header.end():].splitlines()[2:]
                if line.startswith("  daphne")]
        receive = [row[0] for row in rows if row[1] == "websocket.receive"]
        assert len(receive) == 1  # the frame in, on one Daphne: the root
        assert rows[0][:2] == [receive[0], "websocket.receive"]
        assert [row[0] for row in rows if row[1] == "group_send"] == receive
        for span in ("process", "websocket.send"):  # the fan-out reached both processes
            assert {row[0] for row in rows if row[1] == span} == {"daphne1", "daphne2"}

        assert kept, out[-2000:]
        log_dir = Path(kept.group(1))
        for daphne in ("daphne1", "daphne2"):  # the tree is what the processes exported
            lines = spans_file(log_dir, daphne).read_text().splitlines()
            assert any(json.loads(line)["trace_id"] == header.group(1) for line in lines)
    finally:
        if kept:
            shutil.rmtree(kept.group(1), ignore_errors=True)
