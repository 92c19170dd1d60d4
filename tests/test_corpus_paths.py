"""The files corpus names each document by its path relative to its glob's folder
(`ladders.corpus.glob_files`), so the split and the corpus hash do not depend on where the files
lie; a pattern matching nothing and a missing corpus path are one-line errors at --dry-run."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

from ladders import corpus as C

TREE = {f"part{k % 3}/doc{k:02d}.txt": f"document {k}: " + "text " * (20 + k) for k in range(24)}


def write_tree(folder: Path) -> Path:
    for name, text in TREE.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_glob_root_is_the_longest_prefix_without_wildcards():
    assert C.glob_root("docs/**/*.txt") == "docs"
    assert C.glob_root("/data/a/b?/*.txt") == "/data/a"
    assert C.glob_root("*.txt") == "."
    assert C.glob_root("/data/one.txt") == "/data"


def test_the_same_files_elsewhere_split_and_hash_the_same(tmp_path):
    first = write_tree(tmp_path / "here" / "corpus")
    second = tmp_path / "there" / "deeper" / "copy"
    shutil.copytree(first, second)
    a = C.text_corpus([f"{first}/**/*.txt"])
    b = C.text_corpus([f"{second}/**/*.txt"])
    assert a.names == sorted(TREE) == b.names         # relative to each glob's folder
    assert a.hash == b.hash and a.name == b.name
    train_a, valid_a = C.split_corpus(a, 0.25)
    train_b, valid_b = C.split_corpus(b, 0.25)
    assert valid_a.names == valid_b.names and train_a.names == train_b.names
    assert 1 <= len(valid_a) < len(TREE) and (train_a.hash, valid_a.hash) == (train_b.hash, valid_b.hash)
    # the split is the hash of the relative name, whatever the absolute path
    assert valid_a.names == [n for n in sorted(TREE) if C.name_uniform(n) < 0.25]
    # two patterns: each file relative to its own pattern's folder
    parts = C.text_corpus([f"{second}/part0/*.txt", f"{second}/part1/*.txt"])
    assert parts.names == sorted(n.split("/")[1] for n in TREE if n.startswith(("part0", "part1")))


def test_two_files_of_one_name_are_refused(tmp_path):
    write_tree(tmp_path)
    (tmp_path / "part1" / "doc00.txt").write_text("same name as part0/doc00.txt")
    with pytest.raises(ValueError, match="both named 'doc00.txt'"):
        C.text_corpus([f"{tmp_path}/part0/*.txt", f"{tmp_path}/part1/*.txt"])


# --- --dry-run: a corpus path that does not exist -------------------------------------------------

SPEC = """
[ladder]
name = "paths"
context = 16
batch_size = 4
min_steps = 1
[data]
{data}
[model]
sizes = [{{ width = 16, depth = 1, heads = 2 }}]
[tokens]
absolute = [1280]
"""


def dry_run(tmp_path, data: str) -> tuple[int, list[str]]:
    """`python -m ladders.launch SPEC --dry-run` from the worktree: (exit code, stderr lines)."""
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(data=data))
    done = subprocess.run([sys.executable, "-m", "ladders.launch", str(spec), "--dry-run"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return done.returncode, done.stderr.strip().splitlines()


def test_dry_run_names_a_missing_corpus_path(tmp_path):
    write_tree(tmp_path / "tree")
    missing = tmp_path / "nowhere"
    cases = [
        (f'corpus = "files"\nfiles = ["{missing}/*.txt"]', f"data.files: '{missing}/*.txt'"),
        (f'corpus = "hf"\nhf_files = ["{missing}/*.parquet"]',
         f"data.hf_files: no files match the pattern '{missing}/*.parquet'"),
        (f'corpus = "files"\nfiles = ["{tmp_path}/tree/**/*.txt"]\ntokenizer = "file"\n'
         f'tokenizer_file = "{missing}/tokenizer.json"',
         f"data.tokenizer_file: no such file '{missing}/tokenizer.json'"),
        (f'corpus = "bins"\ntrain_bin = "{missing}/train.bin"\nvalid_bin = "{missing}/v.bin"',
         f"data.train_bin: no such file '{missing}/train.bin'"),
    ]
    for data, says in cases:
        code, err = dry_run(tmp_path, data)
        assert code == 2 and len(err) == 1, (data, err)
        assert err[0].startswith("scaling: error: ") and str(tmp_path / "spec.toml") in err[0]
        assert says in err[0], (says, err[0])
    # a recursive glob that does match passes the check (it once was matched non-recursively)
    code, err = dry_run(tmp_path, f'corpus = "files"\nfiles = ["{tmp_path}/tree/**/*.txt"]')
    assert code == 0, err
