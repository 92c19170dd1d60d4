"""How the commands end (scaling/output/console.py): bad input exits 2 with one line, a bug exits 1
with one line (the traceback with SCALING_DEBUG=1), Ctrl-C exits 130."""

import pytest

from scaling.output.console import OneLineParser, run_command
from scaling.errors import ScalingError


def raises(exception):
    def command():
        raise exception
    return command


@pytest.mark.parametrize("exception, code, line", [
    (ScalingError("runs.csv: column 'loss',\n row 3: bad"), 2,          # always one line
     "scaling: error: runs.csv: column 'loss', row 3: bad"),
    (FileNotFoundError(2, "No such file or directory", "x.csv"), 2,
     "scaling: error: x.csv: No such file or directory"),
    (KeyboardInterrupt(), 130, "scaling: interrupted"),
    (ZeroDivisionError("division by zero"), 1,
     "scaling: internal error: ZeroDivisionError: division by zero (rerun with SCALING_DEBUG=1 "
     "for the traceback)"),
])
def test_each_ending_is_one_line_and_its_exit_code(capsys, monkeypatch, exception, code, line):
    monkeypatch.delenv("SCALING_DEBUG", raising=False)
    assert run_command(raises(exception)) == code
    assert capsys.readouterr().err == line + "\n"


def test_scaling_debug_shows_the_traceback_of_a_bug(monkeypatch):
    monkeypatch.setenv("SCALING_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        run_command(raises(ZeroDivisionError("division by zero")))


def test_a_command_that_succeeds_returns_its_status(capsys):
    assert run_command(lambda: 0) == 0 and capsys.readouterr().err == ""


def test_parser_errors_are_scaling_errors_named_after_the_program():
    parser = OneLineParser(prog="python -m ladders.launch")
    parser.add_argument("spec")
    with pytest.raises(ScalingError, match=r"^python -m ladders.launch: the following arguments "
                                           r"are required: spec \(see --help\)$"):
        parser.parse_args([])


def test_checking_an_output_makes_no_folder(tmp_path):
    """A command that fails after its outputs were checked leaves no empty folder behind."""
    from scaling.output.console import check_output

    target = tmp_path / "a" / "b" / "fit.json"
    assert check_output(target, "--out") == target
    assert not (tmp_path / "a").exists()


def test_a_reader_that_leaves_early_is_not_an_error():
    """`scaling laws | head -2`: the pipe closes while the command still writes (10 MB here,
    far past a pipe's buffer); exit 0 and no message, not "error: Broken pipe"."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from scaling.output.console import run_command; "
            "sys.exit(run_command(lambda: [print('x' * 99) for _ in range(100_000)] and 0))")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    process.stdout.readline()
    process.stdout.close()             # the reader leaves after one line
    stderr = process.stderr.read().decode()
    assert process.wait() == 0, stderr
    assert stderr == ""
