"""Progress output: a bar on a terminal, plain lines (no cursor codes) in a log."""

import io
import subprocess
import sys
from pathlib import Path

from ladders.progress import Progress

ROOT = Path(__file__).resolve().parents[1]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_plain_lines_with_the_latest_values():
    log = io.StringIO()
    progress = Progress(200, "run-a", every=0.0, stream=log)
    for _ in range(3):
        progress.note(loss=2.345678)
        progress.update(50)
    progress.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("run-a: step 50/200 (25%), loss 2.346, ")
    assert lines[-1].startswith("run-a: step 150/200 (75%), loss 2.346")
    assert "left" in lines[0] and len(lines) == 4
    assert "\x1b" not in log.getvalue() and "\r" not in log.getvalue()


def test_lines_come_at_most_every_interval():
    log = io.StringIO()
    progress = Progress(1000, "run-b", every=3600.0, stream=log)
    for _ in range(1000):
        progress.update(1)
    progress.close()
    assert log.getvalue().splitlines() == [log.getvalue().splitlines()[-1]]   # only the end
    assert "1,000/1,000 (100%)" in log.getvalue()


def test_a_terminal_gets_a_bar():
    screen = Terminal()
    progress = Progress(10, "run-c", stream=screen)
    progress.update(10)
    progress.close()
    assert "\r" in screen.getvalue()                # tqdm redraws in place


def test_a_ladder_logged_to_a_file_has_no_cursor_codes(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text("""
[ladder]
name = "log"
context = 16
batch_size = 4
eval_every = 5
eval_batches = 1
min_steps = 1
[data]
corpus = "stdlib"
max_bytes = 100_000
[model]
sizes = [{ width = 16, depth = 1, heads = 2 }, { width = 32, depth = 1, heads = 2 }]
[tokens]
absolute = [640]
""")
    result = subprocess.run([sys.executable, "-m", "scaling", "ladder", "run", str(spec),
                             "--out", str(tmp_path / "l.parquet"), "--device", "cpu",
                             "--threads", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "log-w16-d1-v256-640tok-cosine-s0: step 10/10 (100%)" in result.stderr
    assert "ladder: rung 2/2 (100%)" in result.stderr
