"""`scaling plan`: the planning report on the bundled Chinchilla fit, its numbers against the fit's
closed form, the self-contained HTML, and bad input (exit 2, one line)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import cli
from scaling.analysis import planning

REPO = Path(__file__).resolve().parents[1]
RUNS = REPO / "data" / "chinchilla" / "runs.parquet"
BUDGET = 1e24


@pytest.fixture(scope="module")
def fit(tmp_path_factory):
    """The Chinchilla fit of the bundled data (100 bootstrap refits, calibrated)."""
    path = tmp_path_factory.mktemp("plan") / "fit.json"
    assert cli.main([
        "fit", str(RUNS), "--where", "loss < 3.44", "--bootstrap", "100", "--jobs", "1",
        "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def report(fit, tmp_path_factory):
    out = tmp_path_factory.mktemp("plan") / "report"
    assert cli.main(["plan", "--flops", f"{BUDGET:g}", "--fit", str(fit), "--inference-tokens",
                     "1e13", "--out-dir", str(out)]) == 0
    return out


def closed_form(record: dict, flops: float):
    """Chinchilla's compute-optimal N, D and loss (C = 6ND) from a fit file's parameters."""
    p = record["params"]
    E, A, B, alpha, beta = (p[k] for k in ("E", "A", "B", "alpha", "beta"))
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    n = G * (flops / 6) ** (beta / (alpha + beta))
    d = (flops / 6) ** (alpha / (alpha + beta)) / G
    return n, d, E + A / n ** alpha + B / d ** beta


def _row(markdown: str, name: str) -> list[str]:
    """The cells of the first table row whose first cell is `name`."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r}")


def _number_interval(cell: str):
    match = re.match(r"([-+0-9.e]+)(?: \[([-+0-9.e]+), ([-+0-9.e]+)\])?", cell)
    return tuple(float(g) if g else None for g in match.groups())


def test_report_numbers_match_the_closed_form(fit, report):
    record = json.loads(fit.read_text())
    n, d, loss = closed_form(record, BUDGET)
    markdown = (report / "report.md").read_text()
    got_n = float(_row(markdown, "params N")[1])
    got_d = float(_row(markdown, "tokens D")[1])
    assert got_n == pytest.approx(n, rel=1e-3)          # printed to 4 significant digits
    assert got_d == pytest.approx(d, rel=1e-3)
    loss_rows = [line for line in markdown.splitlines() if line.startswith("| loss |")]
    assert len(loss_rows) == 2                          # 80% and 95%
    for line, level in zip(loss_rows, ("80%", "95%")):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert float(cells[1]) == pytest.approx(loss, rel=1e-4)
        low, high = (float(v) for v in re.findall(r"[0-9.]+", cells[2])[:2])
        assert low < loss < high and f"({level}, calibrated)" in cells[2]
    # the 95% interval is wider than the 80% one
    (l80, h80), (l95, h95) = ([float(v) for v in re.findall(r"[0-9.]+", line.split("|")[3])[:2]]
                              for line in loss_rows)
    assert l95 < l80 and h95 > h80
    # the same numbers as the fit's own compute-optimal table (`scaling predict --flops`)
    from scaling.laws import load_fit

    law = load_fit(fit)
    alloc = law.compute_optimal([BUDGET])
    # the report's numbers are this same closed form, written to JSON: equal to rounding
    assert alloc["params"][0][0] == pytest.approx(n, rel=1e-9)
    assert alloc["loss"][0][0] == pytest.approx(loss, rel=1e-9)
    # approach 3's row of the side-by-side table, with its bootstrap interval
    cells = next(c for c in (l.split("|") for l in markdown.splitlines())
                 if len(c) > 2 and "recommended" in c[1])
    value, low, high = _number_interval(cells[3].strip())
    assert value == pytest.approx(n, rel=1e-3) and low < value < high
    # reach: ×6 params, ×5.4 tokens beyond the fitted data (docs/planning.md's plan at 1e24)
    assert "×6 params" in markdown and "×5.4 tokens" in markdown


def test_report_sections(report):
    markdown = (report / "report.md").read_text()
    for heading in ("## Warnings", "## Compute-optimal allocation", "## Predicted loss",
                    "## Over-training", "## The fits used", "## Figures"):
        assert heading in markdown
    assert "Approach 1 not supported: no run table given" in markdown
    # the over-training table: 5 rows, losses rising as N shrinks, one row marked
    rows = [line for line in markdown.splitlines() if re.match(r"\| ×[0-9.]+ \|", line)]
    assert [r.split("|")[1].strip() for r in rows] == ["×1", "×0.75", "×0.5", "×0.35", "×0.25"]
    losses = [_number_interval(r.split("|")[5].strip())[0] for r in rows]
    assert losses == sorted(losses)
    assert sum("least total" in r for r in rows) == 1
    n = float(rows[0].split("|")[2])
    assert float(rows[0].split("|")[7]) == pytest.approx(2 * n * 1e13, rel=1e-2)   # 2·N·T


def test_html_is_self_contained(report):
    page = (report / "report.html").read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(planning.PLOTS)
    import base64

    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.count("<img") + page.count("<svg") == len(planning.PLOTS)
    assert not re.search(r'(src|href)\s*=\s*"(?!data:)', page)     # nothing fetched
    assert "<link" not in page and "<script" not in page
    markdown = (report / "report.md").read_text()
    for name in planning.PLOTS.values():                            # PNGs beside report.md
        assert f"]({name})" in markdown and (report / name).read_bytes()[:4] == b"\x89PNG"


def test_runs_add_approach_2(fit, tmp_path):
    out = tmp_path / "with-runs"
    assert cli.main(["plan", "--flops", "1e23", "--fit", str(fit), "--runs", str(RUNS),
                     "--where", "loss < 3.44", "--bootstrap", "20", "--out-dir", str(out)]) == 0
    markdown = (out / "report.md").read_text()
    assert "| 2 isoFLOP profiles (runs)" in markdown
    assert "Approach 1 not supported: approach 1 needs training curves" in markdown
    page = (out / "report.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == len(planning.PLOTS)


# -- bad input: exit 2, one line --------------------------------------------------------------

def _one_line_error(capsys, argv) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("scaling: error:")
    return err


@pytest.mark.parametrize("budget", ["0", "-1e24", "nan", "inf"])
def test_bad_budget(fit, tmp_path, capsys, budget):
    err = _one_line_error(capsys, ["plan", f"--budget={budget}", "--fit", str(fit),
                                   "--out-dir", str(tmp_path / "out")])
    assert "--budget" in err
    assert not (tmp_path / "out").exists()


def test_out_is_a_file(fit, tmp_path, capsys):
    out = tmp_path / "report"
    out.write_text("")
    err = _one_line_error(capsys, ["plan", "--flops", "1e24", "--fit", str(fit),
                                   "--out-dir", str(out)])
    assert "is a file" in err


def test_corrupt_fit_files(fit, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "invalid JSON" in _one_line_error(capsys, ["plan", "--flops", "1e24", "--fit",
                                                      str(bad), "--out-dir", str(tmp_path / "o")])
    record = json.loads(fit.read_text())
    del record["params"]
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps(record))
    err = _one_line_error(capsys, ["plan", "--flops", "1e24", "--fit", str(missing),
                                   "--out-dir", str(tmp_path / "o")])
    assert "params" in err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def task_accuracy_fit(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "accuracy.json"
    assert cli.main(["fit", str(REPO / "data" / "cpu_tasks" / "runs.parquet"), "--law",
                     "task-accuracy", "--task", "next_chars", "--bootstrap", "0",
                     "--no-calibration", "--out", str(path)]) == 0
    return path


def test_no_loss_law(task_accuracy_fit, tmp_path, capsys):
    err = _one_line_error(capsys, ["plan", "--flops", "1e24", "--fit", str(task_accuracy_fit),
                                   "--out-dir", str(tmp_path / "o")])
    assert "loss law that allocates compute" in err and "task-accuracy" in err


def test_options_without_their_fit(fit, tmp_path, capsys):
    err = _one_line_error(capsys, ["plan", "--flops", "1e24", "--fit", str(fit),
                                   "--unique-tokens", "1e12", "--out-dir", str(tmp_path / "o")])
    assert "data-constrained" in err
    err = _one_line_error(capsys, ["plan", "--flops", "1e24", "--fit", str(fit),
                                   "--inference-tokens", "-5", "--out-dir", str(tmp_path / "o")])
    assert "--inference-tokens" in err


def test_accuracy_chained_on_the_loss(fit, task_accuracy_fit, tmp_path):
    """A task-accuracy fit that reads a task loss no given fit predicts says what it needs."""
    out = tmp_path / "acc"
    assert cli.main(["plan", "--flops", "1e24", "--fit", str(fit), str(task_accuracy_fit),
                     "--out-dir", str(out)]) == 0
    markdown = (out / "report.md").read_text()
    assert "## Downstream accuracy" in markdown
    # accuracies in points, the unit in the heading (as the backtest report's; issue 27)
    assert "| fit | law | task | accuracy (%) | 80% interval | 95% interval | how |" in markdown
    assert "reads loss:next_chars, which no given fit predicts" in markdown
    assert np.isfinite(float(_row(markdown, "params N")[1]))
