"""LR transfer (issue 15): the `optimizer.lrs` sweep key, and the bundled CPU sweep
(data/cpu_mup_lr/, specs cpu-mup-lr and cpu-mup-lr-sp): muP's best LR moves by at most one grid
step across widths spanning 4x; the standard parametrization's is reported (SOURCE.md)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ladders.lr_transfer import best_lr_table, best_lr_text, movement, plot_lr_transfer
from ladders.spec import expand, load_spec

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "data/cpu_mup_lr/runs.parquet"


def test_lrs_key_expands_into_rungs():
    spec = load_spec("cpu-mup-lr")
    rungs = expand(spec)
    assert len(spec.optimizer.lrs) == 9 and len(rungs) == 3 * 9 * 6
    assert {r.model["width"] for r in rungs} == {32, 64, 128}
    peaks = sorted({float(r.schedule.split("peak=")[1].split(",")[0]) for r in rungs})
    # the schedule string keeps 6 significant digits: 2^-11 = 0.00048828125 runs as 0.000488281
    assert np.allclose(peaks, sorted(spec.optimizer.lrs), rtol=1e-5, atol=0)
    assert np.allclose(np.diff(np.log2(peaks)), 1.0)          # a log2 grid
    assert all("-lr" in r.run for r in rungs) and len({r.run for r in rungs}) == len(rungs)
    assert {r.model["parametrization"] for r in rungs} == {"mup"}
    assert {r.model["parametrization"] for r in expand(load_spec("cpu-mup-lr-sp"))} == \
        {"standard"}


def test_bundled_sweep_lr_transfer(tmp_path):
    """The issue's criterion on the bundled sweep (3 widths, 32 to 128; 9 LRs 2^-11..2^-3; 300
    steps; muP on 6 seeds, standard on 3). Under muP the best LR is 2^-7 on the grid at every
    width and the fitted optimum moves 0.48 grid steps; under standard it halves per doubling
    of the width (2^-7, 2^-8, 2^-9; fitted 2^-6.6, 2^-7.8, 2^-8.9). On muP's first 3 seeds the
    grid argmin moved 2 steps (2^-7, 2^-5, 2^-7: at width 64 three LRs lay within 0.009 nats,
    under the seed scatter); checked below too. Pinned as measured."""
    runs = pd.read_parquet(TABLE)
    table = best_lr_table(runs)
    print(best_lr_text(runs))
    for parametrization, seeds in (("standard", 3), ("mup", 6)):
        part = table[table["parametrization"] == parametrization]
        assert list(part["width"]) == [32, 64, 128]             # >= 3 widths spanning 4x
        assert set(part["lrs"]) == {9} and set(part["seeds"]) == {seeds}
    log2 = {p: [round(np.log2(v)) for v in part["best_lr"]]
            for p, part in table.groupby("parametrization")}
    assert log2 == {"mup": [-7, -7, -7], "standard": [-7, -8, -9]}
    assert movement(table) == {"mup": 0, "standard": 2}
    first_three = best_lr_table(runs[runs["seed"] <= 2])
    mup = first_three[first_three["parametrization"] == "mup"]
    assert [round(np.log2(v)) for v in mup["best_lr"]] == [-7, -5, -7]
    assert movement(first_three, fitted=True)["mup"] == pytest.approx(0.69, abs=0.01)
    fitted = movement(table, fitted=True)
    assert fitted["mup"] <= 1.0                                  # the criterion
    assert fitted["standard"] >= 2.0                             # SP's best LR falls ~1/width
    sp = table[table["parametrization"] == "standard"]
    assert list(np.round(np.log2(sp["fitted_lr"]), 1)) == [-6.6, -7.8, -8.9]
    # the lr_peak column is the swept value (to the schedule string's 6 significant digits)
    assert np.allclose(sorted(set(runs["lr_peak"])), sorted(load_spec("cpu-mup-lr").optimizer.lrs),
                       rtol=1e-5, atol=0)
    path = plot_lr_transfer(runs, tmp_path / "lr.png")
    assert path.stat().st_size > 1000


def test_best_lr_table_on_a_made_up_sweep():
    rows = []
    for parametrization, best in (("mup", {32: 2, 64: 2, 128: 3}),
                                  ("standard", {32: 3, 64: 2, 128: 0})):
        for width, index in best.items():
            for k, lr in enumerate([1e-3, 2e-3, 4e-3, 8e-3]):
                rows.append({"run": f"{parametrization}-{width}-{k}", "step": 10, "seed": 0,
                             "parametrization": parametrization, "width": width,
                             "lr_peak": lr, "loss": 3 + (k - index) ** 2,
                             "diverged": False})
    rows.append({**rows[-1], "run": "x", "lr_peak": 16e-3, "loss": 0.1, "diverged": True})
    table = best_lr_table(pd.DataFrame(rows))
    assert list(table[table.parametrization == "mup"]["shift"]) == [0, 0, 1]
    assert list(table[table.parametrization == "standard"]["best_lr"]) == [8e-3, 4e-3, 1e-3]
    assert movement(table) == {"mup": 1, "standard": 3}
    assert movement(table, fitted=True) == pytest.approx({"mup": 1.0, "standard": 3.0})
    with pytest.raises(AssertionError):
        assert movement(table)["standard"] <= 1


def made_up_sweep(best, lrs=(1e-3, 2e-3, 4e-3, 8e-3)) -> pd.DataFrame:
    """A run table of one sweep: {(parametrization, width): index of its best LR}, loss 3 +
    (k - best)^2 at the k-th LR, with the contract's columns."""
    rows = []
    for (parametrization, width), index in best.items():
        for k, lr in enumerate(lrs):
            rows.append({"run": f"{parametrization}-{width}-{k}", "params": 1e5 * width,
                         "tokens": 1e6, "step": 10, "seed": 0, "width": width,
                         "parametrization": parametrization, "lr_peak": lr,
                         "loss": 3 + (k - index) ** 2})
    return pd.DataFrame(rows)


def test_cli_lr_transfer_on_the_bundled_sweep(tmp_path, capsys):
    import cli

    out = tmp_path / "transfer"
    assert cli.main(["ladder", "lr-transfer", str(TABLE), "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "best LR on the grid moves across widths by: mup: 0 grid step(s), standard: 2 " \
           "grid step(s)" in printed
    assert "WARNING" not in printed                      # every optimum is bracketed
    table = pd.read_csv(out / "best-lr.csv")
    assert list(table["shift"]) == [0, 0, 0, 0, -1, -2]
    assert (out / "lr-transfer.png").stat().st_size > 1000


def test_cli_lr_transfer_joins_tables_and_warns_of_an_unbracketed_optimum(tmp_path, capsys):
    import cli

    made_up_sweep({("mup", 32): 1, ("mup", 64): 2}).to_csv(tmp_path / "mup.csv", index=False)
    made_up_sweep({("standard", 32): 1, ("standard", 64): 3}).to_csv(tmp_path / "sp.csv",
                                                                      index=False)
    assert cli.main(["ladder", "lr-transfer", str(tmp_path / "mup.csv"), str(tmp_path / "sp.csv"),
                     "--out-dir", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "best LR on the grid moves across widths by: mup: 1 grid step(s), standard: 2 grid " \
           "step(s)" in lines
    (warning,) = [line for line in lines if line.startswith("WARNING")]
    assert warning.startswith("WARNING: width 64 (standard): the best LR 0.008 is the highest "
                              "of the 4 it was run at; the optimum is not bracketed")


def test_cli_lr_transfer_reads_the_peak_lr_from_the_schedule(tmp_path, capsys):
    import cli

    sweep = made_up_sweep({("mup", 32): 1, ("mup", 64): 2})
    sweep["schedule"] = [f"cosine:peak={lr:g},warmup=10,steps=100,final=0"
                         for lr in sweep.pop("lr_peak")]
    sweep.to_csv(tmp_path / "sweep.csv", index=False)
    assert cli.main(["ladder", "lr-transfer", str(tmp_path / "sweep.csv"), "--out-dir",
                     str(tmp_path / "out")]) == 0
    assert "mup: 1 grid step(s)" in capsys.readouterr().out
    assert list(pd.read_csv(tmp_path / "out" / "best-lr.csv")["best_lr"]) == [2e-3, 4e-3]
    sweep["schedule"] = sweep["schedule"].str.replace("cosine", "zigzag")
    sweep.to_csv(tmp_path / "sweep.csv", index=False)
    assert cli.main(["ladder", "lr-transfer", str(tmp_path / "sweep.csv"), "--out-dir",
                     str(tmp_path / "out")]) == 2
    assert "sweep.csv: column 'schedule'" in capsys.readouterr().err


def test_cli_lr_transfer_bad_input_is_one_line(tmp_path, capsys):
    import cli

    sweep = made_up_sweep({("mup", 32): 1, ("mup", 64): 2})
    sweep.drop(columns="parametrization").to_csv(tmp_path / "nopar.csv", index=False)
    sweep[sweep["lr_peak"] < 3e-3].to_csv(tmp_path / "two.csv", index=False)
    sweep.to_csv(tmp_path / "sweep.csv", index=False)
    (tmp_path / "file").write_text("")
    out = ["--out-dir", str(tmp_path / "o")]
    cases = [
        ([str(tmp_path / "nopar.csv"), *out], ["nopar.csv", "missing column 'parametrization'"]),
        ([str(tmp_path / "two.csv"), *out], ["two.csv", "width 32 (mup) has 2 peak LR(s)",
                                             "at least 3"]),
        ([str(tmp_path / "sweep.csv"), str(tmp_path / "sweep.csv"), *out],
         ["run 'mup-32-0' is in more than one of the tables"]),
        ([str(tmp_path / "missing.csv"), *out], ["missing.csv"]),
        ([str(tmp_path / "sweep.csv"), "--out-dir", str(tmp_path / "file")],
         ["--out-dir", "is a file"]),
    ]
    for argv, fragments in cases:
        assert cli.main(["ladder", "lr-transfer", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("scaling: error: "), err
        for fragment in fragments:
            assert fragment in err[0], (fragment, err[0])
    assert not (tmp_path / "o").exists()
