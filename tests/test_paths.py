"""Nothing lost (issue 24, item 6 and a write error of item 5): an output never replaces an
input or another output of the same command; a ladder never replaces a table that is not its
own, and two ladders never write one table; writes are flushed to the disk before they replace
anything and keep the replaced file's permission bits; a write the system refuses is one line
naming the file; and `ladder run --dry-run` rejects every data spec the real run would.

Each error case: `cli.main(argv)` in-process, exit 2, stderr exactly one line, no traceback,
and the inputs byte for byte as they were.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cli

REPO = Path(__file__).resolve().parents[1]
FAST = ["--bootstrap", "0", "--jobs", "1", "--no-calibration"]

SPEC = """
[ladder]
name = "t"
context = 32
batch_size = 8
[data]
corpus = "stdlib"
max_bytes = 200_000
[model]
sizes = [{ width = 32, depth = 2, heads = 2 }]
[tokens]
absolute = [100_000]
[optimizer]
lr = 1e-3
schedules = ["cosine"]
"""


def runs_table(tmp: Path, name: str = "runs.csv") -> Path:
    """A small Chinchilla-shaped run table (16 runs)."""
    rows = [{"run": f"r{4 * i + j:02d}", "params": n, "tokens": d,
             "loss": 1.8 + 400 / n**0.34 + 2000 / d**0.37}
            for i, n in enumerate((1e7, 3e7, 1e8, 3e8))
            for j, d in enumerate((1e8, 3e8, 1e9, 3e9))]
    path = tmp / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def one_line_error(capsys, argv) -> str:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def contents(paths) -> dict:
    return {Path(p): Path(p).read_bytes() for p in paths}


# -- outputs over inputs, and outputs over each other ----------------------------------------
# Each case: (tmp) -> (argv, the files that must stay as they are, pieces of the error)

def fit_out_is_runs(tmp):
    runs = runs_table(tmp)
    return ["fit", runs, *FAST, "--out", runs], [runs], [f"--out {runs}: is the input RUNS"]


def fit_out_is_runs_spelled_otherwise(tmp):
    runs = runs_table(tmp)
    (tmp / "sub").mkdir()
    other = tmp / "sub" / ".." / "runs.csv"
    return (["fit", runs, *FAST, "--out", other], [runs],
            [f"--out {other}: is the input RUNS ({runs}, the same file)"])


def fit_out_is_a_hard_link_of_runs(tmp):
    runs = runs_table(tmp)
    os.link(runs, tmp / "hard.json")
    return (["fit", runs, *FAST, "--out", tmp / "hard.json"], [runs],
            ["--out", "hard.json: is the input RUNS", "the same file"])


def fit_input_is_a_symlink_to_the_out(tmp):
    runs = runs_table(tmp)
    (tmp / "link.csv").symlink_to(runs)
    return (["fit", tmp / "link.csv", *FAST, "--out", runs], [runs],
            [f"--out {runs}: is the input RUNS ({tmp / 'link.csv'}, the same file)"])


def fit_plot_is_lr_file(tmp):
    runs = runs_table(tmp)
    lr = tmp / "lr.png"
    lr.write_text("run,step,lr\n")
    return (["fit", runs, *FAST, "--law", "multipower", "--lr-file", lr, "--plot", lr], [lr],
            ["--plot", "lr.png: is the input --lr-file"])


def fit_out_and_plot_are_one_file(tmp):
    runs = runs_table(tmp)
    target = tmp / "x.png"
    return (["fit", runs, *FAST, "--out", target, "--plot", target], [runs],
            [f"--out {target} and --plot {target}: the same file", "give each its own name"])


def predict_json_is_the_fit(tmp):
    fit = tmp / "fit.json"
    fit.write_text('{"law": "chinchilla"}')
    return (["predict", fit, "--params", "1e9", "--tokens", "2e10", "--json", fit], [fit],
            [f"--json {fit}: is the input FIT.json"])


def predict_out_and_json_are_one_file(tmp):
    fit = tmp / "fit.json"
    fit.write_text('{"law": "chinchilla"}')
    curve = tmp / "c.csv"
    return (["predict", fit, "--schedule", "constant:peak=1e-3,steps=100", "--out", curve,
             "--json", curve], [fit], [f"--out {curve} and --json {curve}: the same file"])


def predict_plot_is_a_symlink_to_the_json(tmp):
    fit = tmp / "fit.json"
    fit.write_text('{"law": "chinchilla"}')
    (tmp / "c.json").write_text("{}")
    (tmp / "c.png").symlink_to(tmp / "c.json")
    return (["predict", fit, "--schedule", "constant:peak=1e-3,steps=100", "--plot",
             tmp / "c.png", "--json", tmp / "c.json"], [fit, tmp / "c.json"],
            ["--plot", "c.png and --json", "c.json: the same file"])


def backtest_json_is_runs(tmp):
    runs = runs_table(tmp, "runs.json")
    return (["backtest", runs, "--train", "params < 2e8", "--bootstrap", "0", "--json", runs],
            [runs], [f"--json {runs}: is the input RUNS"])


def optimal_json_is_runs(tmp):
    runs = runs_table(tmp, "runs.json")
    return (["optimal", runs, "--bootstrap", "0", "--json", runs], [runs],
            [f"--json {runs}: is the input RUNS"])


def plan_report_is_a_fit(tmp):
    (tmp / "plan").mkdir()
    fit = tmp / "plan" / "report.html"
    fit.write_text('{"law": "chinchilla"}')
    return (["plan", "--flops", "1e21", "--fit", fit, "--out-dir", tmp / "plan"], [fit],
            ["--out-dir", "report.html: is the input --fit"])


def plan_figure_is_the_runs(tmp):
    (tmp / "plan").mkdir()
    runs = runs_table(tmp / "plan", "isoflop.png")
    fit = tmp / "fit.json"
    fit.write_text('{"law": "chinchilla"}')
    return (["plan", "--flops", "1e21", "--fit", fit, "--runs", runs, "--out-dir", tmp / "plan"],
            [runs, fit], ["--out-dir", "isoflop.png: is the input --runs"])


def import_out_is_an_input(tmp):
    export = tmp / "export.parquet"
    export.write_bytes(b"run,step,loss\n")
    return (["import", "wandb", export, "--out", export], [export],
            [f"--out {export}: is the input EXPORT.csv"])


def import_out_is_the_params_file(tmp):
    params = tmp / "params.pq"
    params.write_text("run,params\na,1e8\n")
    return (["import", "wandb", REPO / "tests/data/wandb/history.csv", "--out", params,
             "--params-file", params], [params], [f"--out {params}: is the input --params-file"])


def lr_transfer_table_is_a_sweep(tmp):
    (tmp / "lr").mkdir()
    sweep = runs_table(tmp / "lr", "best-lr.csv")
    return (["ladder", "lr-transfer", sweep, "--out-dir", tmp / "lr"], [sweep],
            ["--out-dir", "best-lr.csv: is the input RUNS"])


def coord_check_table_is_the_spec(tmp):
    spec = tmp / "coord.toml"
    spec.write_text(SPEC)
    (tmp / "cc").mkdir()
    (tmp / "cc" / "coord-check.csv").symlink_to(spec)
    return (["ladder", "coord-check", spec, "--out-dir", tmp / "cc"], [spec],
            ["--out-dir", "coord-check.csv: is the input SPEC", "the same file"])


def ladder_out_is_a_data_file(tmp):
    np.arange(2_000, dtype=np.uint16).tofile(tmp / "train.parquet")
    np.arange(2_000, dtype=np.uint16).tofile(tmp / "valid.bin")
    spec = tmp / "spec.toml"
    spec.write_text(SPEC.replace('corpus = "stdlib"\nmax_bytes = 200_000',
                                 'corpus = "bins"\ntrain_bin = "train.parquet"\n'
                                 'valid_bin = "valid.bin"\nvocab_sizes = [2000]'))
    return (["ladder", "run", spec, "--out", tmp / "train.parquet", "--no-progress"],
            [tmp / "train.parquet", spec], ["--out", "train.parquet: is the input data.train_bin"])


CLASHES = [fit_out_is_runs, fit_out_is_runs_spelled_otherwise, fit_out_is_a_hard_link_of_runs,
           fit_input_is_a_symlink_to_the_out, fit_plot_is_lr_file, fit_out_and_plot_are_one_file,
           predict_json_is_the_fit, predict_out_and_json_are_one_file,
           predict_plot_is_a_symlink_to_the_json, backtest_json_is_runs, optimal_json_is_runs,
           plan_report_is_a_fit, plan_figure_is_the_runs, import_out_is_an_input,
           import_out_is_the_params_file, lr_transfer_table_is_a_sweep,
           coord_check_table_is_the_spec, ladder_out_is_a_data_file]


@pytest.mark.parametrize("case", CLASHES, ids=[case.__name__ for case in CLASHES])
def test_an_output_over_an_input_or_another_output_is_refused(tmp_path, capsys, case):
    argv, kept, pieces = case(tmp_path)
    before = contents(kept)
    err = one_line_error(capsys, argv)
    assert err.startswith("scaling: error: ")
    for piece in pieces:
        assert piece in err, (piece, err)
    assert contents(kept) == before


def test_distinct_outputs_are_written(tmp_path, capsys):
    """The check refuses only the same file: --out and --plot beside the input all written."""
    runs = runs_table(tmp_path)
    before = runs.read_bytes()
    assert cli.main(["fit", str(runs), *FAST, "--out", str(tmp_path / "fit.json"),
                     "--plot", str(tmp_path / "fit.png")]) == 0
    assert json.loads((tmp_path / "fit.json").read_text())["law"] == "chinchilla"
    assert (tmp_path / "fit.png").read_bytes()[:4] == b"\x89PNG"
    assert runs.read_bytes() == before


# -- atomic writes: the mode kept, the data flushed, a refused write named ------------------------

def test_a_replaced_file_keeps_its_permission_bits(tmp_path):
    from scaling.output.atomic import write_text

    private = tmp_path / "private.json"
    private.write_text("old")
    private.chmod(0o600)
    write_text(private, "new")
    assert private.read_text() == "new" and stat.S_IMODE(private.stat().st_mode) == 0o600
    shared = tmp_path / "shared.json"
    shared.write_text("old")
    shared.chmod(0o640)
    write_text(shared, "new")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640
    umask = os.umask(0o027)
    try:
        write_text(tmp_path / "new.json", "new")          # a new file: 0666 less the umask
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640


def test_a_fit_over_a_private_fit_stays_private(tmp_path, capsys):
    runs = runs_table(tmp_path)
    out = tmp_path / "fit.json"
    out.write_text("{}")
    out.chmod(0o600)
    assert cli.main(["fit", str(runs), *FAST, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["law"] == "chinchilla"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_write_is_flushed_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    from scaling.output import atomic

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        kind = "folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file"
        events.append((f"fsync {kind}", os.fstat(descriptor).st_size if kind == "file" else 0))
        real_fsync(descriptor)

    def replace(source, target):
        events.append(("replace", Path(target).name))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic.write_text(tmp_path / "fit.json", "x" * 100)
    assert events == [("fsync file", 100), ("replace", "fit.json"), ("fsync folder", 0)]
    events.clear()
    atomic.write_text(tmp_path / "a" / "b" / "fit.json", "y")   # new folders: their parents too
    assert events == [("fsync file", 1), ("replace", "fit.json"), ("fsync folder", 0),
                      ("fsync folder", 0), ("fsync folder", 0)]


def test_a_write_the_system_refuses_names_the_file(tmp_path, capsys, monkeypatch):
    """A full disk (ENOSPC at the flush): one line naming the file, the old file kept."""
    from scaling.output import atomic

    runs = runs_table(tmp_path)
    out = tmp_path / "fit.json"
    out.write_text("old")

    def full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    err = one_line_error(capsys, ["fit", runs, *FAST, "--out", out])
    assert err == f"scaling: error: {out}: cannot write: {os.strerror(errno.ENOSPC)}"
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == \
        ["fit.json", "runs.csv"]
    with pytest.raises(atomic.ScalingError, match="runs.csv/x.json: cannot write: Not a directory$"):
        atomic.write_text(tmp_path / "runs.csv" / "x.json", "")   # a file where a folder goes


def test_a_file_size_limit_is_one_line_naming_the_file(tmp_path):
    """A real EFBIG: the process may write 512 bytes per file (RLIMIT_FSIZE, SIGXFSZ ignored);
    the fit file is larger. Was `scaling: error: : File too large`."""
    runs = runs_table(tmp_path)
    out = tmp_path / "fit.json"
    argv = ["fit", str(runs), *FAST, "--out", str(out)]
    child = textwrap.dedent(f"""
        import resource, signal, sys
        import cli
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
        sys.exit(cli.main({argv!r}))
    """)
    result = subprocess.run([sys.executable, "-c", child], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"scaling: error: {out}: cannot write: {os.strerror(errno.EFBIG)}"]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_an_os_error_without_a_file_is_not_an_empty_name(capsys):
    from scaling.output.console import run_command

    def fails():
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    assert run_command(fails) == 2
    assert capsys.readouterr().err == f"scaling: error: {os.strerror(errno.EIO)}\n"


# -- ladder run: an existing table, and a lock --------------------------------------------------

def ladder_spec(tmp: Path) -> Path:
    path = tmp / "spec.toml"
    path.write_text(SPEC)
    return path


def test_ladder_run_over_an_unrelated_table_is_refused(tmp_path, capsys):
    spec = ladder_spec(tmp_path)
    out = runs_table(tmp_path, "runs.parquet")        # any file: not this ladder's table
    pd.read_csv(out).to_parquet(out, index=False)
    before = out.read_bytes()
    err = one_line_error(capsys, ["ladder", "run", spec, "--out", out, "--no-progress"])
    assert f"--out {out}: already exists" in err and "--resume" in err and "--force" in err
    err = one_line_error(capsys, ["ladder", "run", spec, "--out", out, "--resume",
                                  "--no-progress"])
    assert f"--out {out}: is not this ladder's table: its run 'r00' and 15 more is no rung" in err
    out.write_text("not parquet")
    err = one_line_error(capsys, ["ladder", "run", spec, "--out", out, "--resume",
                                  "--no-progress"])
    assert "exists and is not a ladder's run table" in err and "--force" in err
    assert out.read_text() == "not parquet" and not (tmp_path / "runs.rungs").exists()
    assert not (tmp_path / "runs.rungs.lock").exists()          # released after the error
    out.write_bytes(before)


def test_ladder_table_checks_allow_its_own_table_and_force(tmp_path):
    from ladders.launch import check_existing_table
    from ladders.spec import expand, load_spec
    from scaling.errors import ScalingError

    rungs = expand(load_spec(ladder_spec(tmp_path)))
    out = tmp_path / "ladder.parquet"
    check_existing_table(out, rungs, resume=False, force=False)        # nothing there yet
    pd.DataFrame({"run": [rungs[0].run], "step": [1]}).to_parquet(out)
    check_existing_table(out, rungs, resume=True, force=False)         # its own: resumed
    with pytest.raises(ScalingError, match="already exists"):
        check_existing_table(out, rungs, resume=False, force=False)
    pd.DataFrame({"run": ["other"], "step": [1]}).to_parquet(out)
    check_existing_table(out, rungs, resume=True, force=True)          # --force replaces it
    check_existing_table(out, rungs, resume=False, force=True)


def test_ladder_run_documents_force(capsys):
    assert cli.main(["ladder", "run", "--help"]) == 0          # help printed: nothing to run
    assert "--force" in capsys.readouterr().out


HOLDER = """
import sys
from ladders.launch import ladder_lock
with ladder_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_second_ladder_on_one_out_is_refused_naming_the_holder(tmp_path, capsys):
    import socket

    from ladders.launch import ladder_lock, lock_path
    from scaling.errors import ScalingError

    spec = ladder_spec(tmp_path)
    out = tmp_path / "ladder.parquet"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], cwd=REPO,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        err = one_line_error(capsys, ["ladder", "run", spec, "--out", out, "--no-progress",
                                      "--device", "cpu"])
        assert err.startswith(f"scaling: error: --out {out}: another ladder run holds its lock "
                              f"{lock_path(out)} (held by pid {holder.pid} on "
                              f"{socket.gethostname()} since ")
        assert not out.exists() and not (tmp_path / "ladder.rungs").exists()
        with pytest.raises(ScalingError, match=f"pid {holder.pid}"):   # the library's too
            with ladder_lock(out):
                pass
    finally:
        holder.kill()                        # kill -9: the system releases the lock
        holder.wait(timeout=30)
    with ladder_lock(out) as path:           # free again; the file names this process
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not lock_path(out).exists()


def test_the_lock_is_released_when_the_ladder_fails(tmp_path, capsys):
    from ladders.launch import ladder_lock, lock_path, run_ladder
    from scaling.errors import ScalingError

    spec = ladder_spec(tmp_path)
    out = tmp_path / "ladder.parquet"
    out.write_bytes(b"a table of something else")
    with pytest.raises(ScalingError, match="already exists"):
        run_ladder(spec, out, device="cpu", progress=False)
    assert not lock_path(out).exists()
    with ladder_lock(out):
        pass


# -- ladder run --dry-run: every data spec the real run rejects ----------------------------------

def files_spec(tmp: Path, files, extra: str = "") -> Path:
    folder = tmp / "a" / "b"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spec.toml"
    path.write_text(SPEC.replace('corpus = "stdlib"\nmax_bytes = 200_000',
                                 f'corpus = "files"\nfiles = {json.dumps(files)}{extra}'))
    return path


def bins_spec(tmp: Path, train: bytes, valid: bytes, vocab: int = 1000) -> Path:
    (tmp / "train.bin").write_bytes(train)
    (tmp / "valid.bin").write_bytes(valid)
    path = tmp / "spec.toml"
    path.write_text(SPEC.replace('corpus = "stdlib"\nmax_bytes = 200_000',
                                 'corpus = "bins"\ntrain_bin = "train.bin"\n'
                                 f'valid_bin = "valid.bin"\nvocab_sizes = [{vocab}]'))
    return path


def one_file_outside(tmp):
    """The issue's `../../../../etc/passwd`: one file, so one of the two splits gets none (which
    one depends on the hash of the file's path, and so on tmp_path: both are checked)."""
    from ladders import corpus as corpora
    from ladders.spec import load_spec
    from ladders.spec.rungs import data_for_rung

    (tmp / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n" * 100)
    spec = files_spec(tmp, ["../../passwd"])
    files = data_for_rung(load_spec(spec))["files"]     # the paths the run reads, as it names them
    train, _ = corpora.split_corpus(corpora.text_corpus(files))
    empty = "held-out" if len(train) else "training"
    return (spec,
            [f"data.files leaves the {empty} split 0 tokens (0 bytes in 0 of 1 file(s)), fewer "
             "than one sequence of ladder.context + 1 = 33 tokens", "give more files or raise "
             "data.valid_fraction"])


def a_binary_file_in_the_glob(tmp):
    """The issue's `/etc/*`: files that are not text."""
    (tmp / "t").mkdir()
    for i in range(20):
        (tmp / "t" / f"{i}.txt").write_text(f"document {i} " * 50)
    (tmp / "t" / "cache.txt").write_bytes(b"\x00\xff\xfe binary" * 20)
    return (files_spec(tmp, [str(tmp / "t" / "*")]),
            ["data.files:", "cache.txt is not UTF-8 text"])


def a_glob_of_folders_only(tmp):
    (tmp / "d" / "x").mkdir(parents=True)
    return files_spec(tmp, [str(tmp / "d" / "*")]), ["data.files: no files match the pattern"]


def a_small_held_out_split(tmp):
    """Held-out documents (by the hash of their names) of 5 bytes each."""
    from ladders import corpus as corpora

    (tmp / "t").mkdir()
    for i in range(30):
        (tmp / "t" / f"{i}.txt").write_text("x" * 500)
    held_out = corpora.split_corpus(corpora.text_corpus(str(tmp / "t" / "*.txt")))[1]
    assert 1 <= len(held_out) <= 5
    for name in held_out.names:                  # names relative to the glob's folder
        (tmp / "t" / name).write_text("x" * 5)
    return (files_spec(tmp, [str(tmp / "t" / "*.txt")]),
            ["data.files leaves the held-out split", "fewer than one sequence of "
             "ladder.context + 1 = 33 tokens; give more text"])


def a_bin_of_an_odd_size(tmp):
    return (bins_spec(tmp, np.arange(500, dtype=np.uint16).tobytes() + b"\x01",
                      np.arange(500, dtype=np.uint16).tobytes()),
            ["data.train_bin: token file", "has 1001 bytes, not a multiple of the uint16 size"])


def an_empty_bin(tmp):
    return (bins_spec(tmp, np.arange(500, dtype=np.uint16).tobytes(), b""),
            ["data.valid_bin: token file", "is empty"])


def a_token_beyond_the_vocabulary(tmp):
    return (bins_spec(tmp, np.arange(500, dtype=np.uint16).tobytes(),
                      np.arange(700, dtype=np.uint16).tobytes(), vocab=600),
            ["data.valid_bin: holds token id 699, not below data.vocab_sizes 600"])


DATA = [one_file_outside, a_binary_file_in_the_glob, a_glob_of_folders_only,
        a_small_held_out_split, a_bin_of_an_odd_size, an_empty_bin, a_token_beyond_the_vocabulary]


@pytest.mark.parametrize("case", DATA, ids=[case.__name__ for case in DATA])
def test_dry_run_rejects_the_data_the_run_would(tmp_path, capsys, case):
    spec, pieces = case(tmp_path)
    err = one_line_error(capsys, ["ladder", "run", spec, "--dry-run"])
    assert err.startswith(f"scaling: error: {spec}: "), err
    for piece in pieces:
        assert piece in err, (piece, err)


def test_dry_run_passes_files_that_make_both_splits(tmp_path, capsys):
    (tmp_path / "t").mkdir()
    for i in range(30):
        (tmp_path / "t" / f"{i}.txt").write_text(f"document {i} " * 40)
    spec = files_spec(tmp_path, [str(tmp_path / "t" / "*.txt")])
    assert cli.main(["ladder", "run", str(spec), "--dry-run"]) == 0
    assert "1 rungs" in capsys.readouterr().out


def test_the_split_sizes_are_the_runs_own(tmp_path):
    """The dry run's count of each split's tokens is what training tokenises (bytes)."""
    from ladders import corpus as corpora
    from ladders.data import load_tokens
    from ladders.spec import load_spec
    from ladders.spec.corpus_check import _stream_bytes
    from ladders.spec.rungs import data_for_rung
    from ladders.tokenizer import ByteTokenizer

    (tmp_path / "t").mkdir()
    for i in range(30):
        (tmp_path / "t" / f"{i}.txt").write_text(f"dokument {i} é " * (i + 1))
    spec = load_spec(files_spec(tmp_path, [str(tmp_path / "t" / "*.txt")]))
    corpus = corpora.text_corpus(data_for_rung(spec)["files"])
    tokens = load_tokens(corpus, ByteTokenizer(), tmp_path / "cache")
    train, valid = corpora.split_corpus(corpus)
    assert (_stream_bytes(train), _stream_bytes(valid)) == (tokens.n_train, tokens.n_valid)
    assert tokens.n_valid > 0 and tokens.n_train > 0
