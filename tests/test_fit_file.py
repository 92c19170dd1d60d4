"""Hand-edited fit files (issue 24, item 4): the seal (`scaling.output.fit_file`, checked by
`scaling.output.fit_file_reading`) makes every edit of a saved fit a one-line error naming the field, a file without a seal loads only as hand-written
constants, and reading is guarded as a class (nesting, huge numbers, wrong types).

Each case edits a real, calibrated, bootstrapped fit file (written once for the module by
`scaling fit --out`) and runs `scaling predict` on it in-process: exit 2, one line on stderr
naming the file and the field, no traceback.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import cli
from scaling.engine.fit import Fit
from scaling.errors import ScalingError
from scaling.output.fit_file import seal
from scaling.output.fit_file_reading import FIELDS, HANDWRITTEN, MAX_DEPTH
from scaling.laws import LAWS, get_law, load_fit
from scaling.data.runs import read_runs
from test_cli_errors import REPO, base_table, set_field, write

PREDICT = ["--params", "1e9", "3e9", "--tokens", "2e10", "1e11"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(a calibrated fit file with 20 bootstrap refits, its record, the fit that wrote it)."""
    folder = tmp_path_factory.mktemp("integrity")
    runs = read_runs(write(folder, base_table(), "good.csv"))
    law = get_law("chinchilla").fit(runs, bootstrap=20, n_jobs=1, calibrate=True)
    path = folder / "fit.json"
    law.to_json(path)
    return path, json.loads(path.read_text()), law


def one_line_error(capsys, argv) -> str:
    capsys.readouterr()
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}: {err!r}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scaling: error: "), err
    return lines[0]


def edited(saved, tmp_path, edit, name="edited.json", text=None):
    """The saved fit with its record changed by `edit(record)` (seal kept as it was)."""
    record = json.loads(json.dumps(saved[1]))
    edit(record)
    path = tmp_path / name
    path.write_text(text if text is not None else json.dumps(record))
    return path


# -- every field the issue found editable, and the class: edited, added, removed -------------

EDITS = {
    "z-quantiles-zeroed": (set_field("calibration", "z_quantiles",
                                    value=lambda z: [0.0] * len(z)), ["'calibration'", "edited"]),
    "slopes-zeroed": (set_field("calibration", "slopes", value=lambda s: {k: 0.0 for k in s}),
                      ["'calibration'", "edited"]),
    "fitted-range-widened": (set_field("fitted_range", "params", value=[1e7, 1e12]),
                             ["'fitted_range'", "edited"]),
    "fitted-range-deleted": (lambda r: r.pop("fitted_range"), ["'fitted_range'", "removed"]),
    "fitted-range-unknown-column": (set_field("fitted_range", value=lambda f: {
        "width": [1.0, 2.0], **f}), ["'fitted_range'", "edited"]),
    "residuals-zeroed": (set_field("residuals", value=lambda r: [0.0] * len(r)),
                         ["'residuals'", "edited"]),
    "at-bound-edited": (set_field("at_bound", value=["E"]), ["'at_bound'", "edited"]),
    "params-nudged": (set_field("params", "E", value=lambda e: e * 1.001),
                      ["'params'", "edited"]),
    "warnings-emptied": (set_field("warnings", value=[]), ["'warnings'", "edited"]),
    "bootstrap-removed": (lambda r: r.pop("bootstrap"), ["'bootstrap'", "removed"]),
    "field-added": (set_field("note", value="mine"), ["'note'", "added"]),
    "two-fields": (lambda r: (r["calibration"].update(noise=0.0), r.pop("residuals")),
                   ["'calibration' was edited and field 'residuals' was removed"]),
    "seal-garbage": (set_field("seal", value={"sha256": "x"}), ["seal: expected"]),
    "seal-removed": (lambda r: r.pop("seal"),
                     ["no seal", "'intervals'", "'calibration'", "refit it"]),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_an_edited_fit_file_is_a_one_line_error(case, saved, tmp_path, capsys):
    edit, fragments = EDITS[case]
    path = edited(saved, tmp_path, edit)
    line = one_line_error(capsys, ["predict", str(path), *PREDICT])
    assert f"{path}: " in line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    if "seal" not in case:
        assert "after the fit" in line and "refit" in line


def test_the_untouched_file_predicts_what_the_fit_did(saved, tmp_path, capsys):
    """A sealed fit saved, reloaded and predicted gives the same numbers (intervals of every
    kind included) as the fit in memory."""
    path, record, law = saved
    assert set(record["seal"]["sha256"]) == set(record) - {"seal"}
    again = load_fit(path)
    inputs = {"params": np.array([1e9, 3e9]), "tokens": np.array([2e10, 1e11])}
    np.testing.assert_allclose(again.predict_values(**inputs), law.predict_values(**inputs), rtol=1e-12)
    for kind in ("calibrated", "law", "run"):
        np.testing.assert_allclose(again.predict_interval(kind=kind, **inputs),
                                   law.predict_interval(kind=kind, **inputs), rtol=1e-12)
    assert again.fitted_range_ == law.fitted_range_ and again.at_bound_ == law.at_bound_
    # saved again, the loaded fit writes the same file
    assert json.loads(again.to_json()) == record
    # the seal is of the content, not of the file: a copy elsewhere predicts the same
    copy = tmp_path / "elsewhere" / "copy.json"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    capsys.readouterr()
    assert cli.main(["predict", str(path), *PREDICT]) == 0
    printed = capsys.readouterr().out
    assert cli.main(["predict", str(copy), *PREDICT]) == 0
    assert capsys.readouterr().out == printed and "[" in printed


def test_a_hand_written_file_loads_as_constants(saved, tmp_path, capsys):
    """A file without a seal that holds only what a person can state (the bundled Tao et al.
    constants) loads, with no intervals; with anything a fit derives it is refused."""
    capsys.readouterr()
    bundled = REPO / "data" / "vocabulary" / "tao2024-fit.json"
    assert cli.main(["predict", str(bundled), "--optimal-vocab", "--params-nonembed", "7e10",
                     "--width", "8192"]) == 0
    constants = {k: v for k, v in saved[1].items() if k in HANDWRITTEN}
    law = Fit.from_dict(LAWS["chinchilla"], constants)
    assert law.params_ == pytest.approx(saved[1]["params"], rel=1e-12)
    assert law.calibration_ is None and len(law.bootstrap_theta_) == 0
    for extra in ("calibration", "fitted_range", "residuals", "at_bound"):
        path = edited(saved, tmp_path, lambda r: None, name=f"{extra}.json", text=json.dumps(
            {**constants, extra: saved[1][extra]}))
        line = one_line_error(capsys, ["predict", str(path), *PREDICT])
        assert f"{path}: no seal, but field {extra!r} is derived from a fit's data" in line
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({**constants, "parms": {"E": 1.0}}))
    assert "unknown field 'parms'" in one_line_error(capsys, ["predict", str(path), *PREDICT])


# -- reading, guarded as a class -------------------------------------------------------------

def test_json_nested_too_deep_is_one_line(saved, tmp_path, capsys):
    """100,000 levels (the parser's RecursionError) and 100 (parsed, deeper than a fit file)."""
    for depth in (100_000, 100):
        path = tmp_path / f"deep-{depth}.json"
        nested = "[" * depth + "]" * depth
        path.write_text(json.dumps(saved[1])[:-1] + f', "extras2": {nested}}}')
        line = one_line_error(capsys, ["predict", str(path), *PREDICT])
        assert str(path) in line and "nested" in line and str(MAX_DEPTH) in line


def test_numbers_too_large_for_a_float_are_one_line(saved, tmp_path, capsys):
    """10**400 anywhere (an integer the JSON parser keeps exact), and 5,000 digits (beyond
    Python's limit for int())."""
    for digits in (400, 5000):
        for where in ("params", "bootstrap"):
            text = json.dumps(saved[1])
            if where == "params":
                text = text.replace('"params": {"E": ', f'"params": {{"E": 1{"0" * digits}, "x": ')
            else:
                text = text.replace('"seed": 0', f'"seed": 1{"0" * digits}')
            path = tmp_path / f"huge-{where}-{digits}.json"
            path.write_text(text)
            line = one_line_error(capsys, ["predict", str(path), *PREDICT])
            assert str(path) in line and "too large for a float" in line, line
    huge = {**{k: v for k, v in saved[1].items() if k in HANDWRITTEN},
            "params": {**saved[1]["params"], "E": 10**400}}
    with pytest.raises(ScalingError, match="params.E: not a finite number"):
        Fit.from_dict(LAWS["chinchilla"], huge)           # in memory: no parser to catch it


def test_the_law_field_of_the_wrong_type(saved, tmp_path, capsys):
    for value in (["chinchilla"], {"name": "chinchilla"}, 3, None):
        path = tmp_path / "law.json"
        path.write_text(json.dumps({**saved[1], "law": value}))
        line = one_line_error(capsys, ["predict", str(path), *PREDICT])
        assert str(path) in line and "law" in line


HUGE = "1" + "0" * 400                 # 10**400: JSON keeps it an exact int; no float holds it
WRONG = [["chinchilla"], {"x": [1, {"y": None}]}, "text", True, None, HUGE]


def test_every_field_of_the_wrong_shape_is_one_line_even_resealed(saved, tmp_path, capsys):
    """Every top-level field set to a value of every JSON shape (and 10**400), resealed (a
    forged seal): the field checks behind the seal answer each with one line naming the field
    (or, where the value is one the field may take, a prediction), never an internal error."""
    for field in FIELDS:
        for k, value in enumerate(WRONG):
            path = tmp_path / f"{field}-{k}.json"
            text = json.dumps(seal({**saved[1], field: "HUGE" if value is HUGE else value}))
            path.write_text(text.replace('"HUGE"', HUGE))
            capsys.readouterr()
            code = cli.main(["predict", str(path), "--params", "1e9", "--tokens", "2e10"])
            err = capsys.readouterr().err
            assert code in (0, 2), (field, value, code, err)
            assert "Traceback" not in err and "internal error" not in err, (field, value, err)
            if code == 2:
                assert len(err.strip().splitlines()) == 1 and str(path) in err, err
                named = "too large for a float" in err if value is HUGE else \
                    field in err or field in ("format", "theta")
                assert named, (field, value, err)
