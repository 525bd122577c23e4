"""Sampling profiles of the server under `onshi bench` load (py-spy), summarised as top lines.

`onshi bench --profile` attaches ``py-spy record --subprocesses --nonblocking`` to the server's
processes for each 32-client run and writes the collapsed stacks to
``var/bench/profile-<backend>-<kind>.txt``; :func:`top_lines` turns them into the two tables in
benchmarks/README.md: where the samples are (self) and what they are under (inclusive).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def start(pid: int, duration: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Samples process ``pid`` and its children for ``duration`` seconds (None: py-spy missing)."""
    binary = py_spy()
    if binary is None:
        return None
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "250",
         "--duration", str(max(1, int(duration))), "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


IDLE = ("select (", "run_once (", "_run_once (", "wait (", "Runner.run (", "Condition.wait (", "Event.wait (",
        "sleep (", "_refresh_loop (", "spawn_main")


def _name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/wt-perf/", "/main/", "python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match['func']} ({file})"


def top_lines(path: Path, n: int = 15) -> str:
    """Self and inclusive shares of the samples, by function (idle event-loop waits left out)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if len(frames) == 0 or frames[-1].startswith(IDLE):
            continue  # idle: uvloop waiting (Runner.run has no Python frame below it), idle threads
        weight = int(count)
        total += weight
        own[frames[-1]] += weight
        for frame in set(frames):
            inclusive[frame] += weight
    if not total:
        return "(no samples)"
    lines = [f"{total} busy samples", "self %  function"]
    lines += [f"{100 * c / total:5.1f}  {f}" for f, c in own.most_common(n)]
    lines += ["", "incl %  function"]
    outer = ("<module>", "run (", "serve (", "_serve (", "main (", "startup (")
    lines += [f"{100 * c / total:5.1f}  {f}" for f, c in inclusive.most_common(n + 25)
              if not f.startswith(outer)][:n + 10]
    return "\n".join(lines)


def main() -> None:
    """``python -m benchmarks.profile FILE [N]``: the top lines of a collapsed-stack profile."""
    print(top_lines(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 15))


if __name__ == "__main__":
    main()
