"""The package as a user installs it: build the wheel, install it (not editable) into a fresh
virtual environment, and run the commands from another directory (defect 1: the wheel had no
`cli` module, so `scaling`, `python -m scaling` and `python -m ladders.launch` died; since issue
27 the command is the package `scaling.cli`, and the wheel installs no top-level `cli` module).

Offline and quick: the wheel is built with the setuptools already installed
(`--no-build-isolation`) and installed with `--no-deps`; the fresh environment finds the
dependencies (numpy … torch) in this environment's site-packages through a `.pth` line, which
adds that folder to the path without running its `.pth` files, so this checkout's editable
install of `scaling` stays out of it.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile

import pytest

from conftest import ROOT
from scaling.data.synthetic import chinchilla_ladder

pytestmark = pytest.mark.slow
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "cli.py", "scaling", "ladders")   # what the wheel holds


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(environment's python, environment variables, a working folder outside the checkout)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"              # a clean copy: no build/ left over from earlier
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns(
            "__pycache__", "*.egg-info")} if (ROOT / name).is_dir() else {}))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                            "--no-build-isolation", "--no-cache-dir", "--quiet",
                            "--disable-pip-version-check", "-w", str(folder / "dist")],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (folder / "dist").glob("scaling_laws-*.whl")
    environment = folder / "env"
    venv.EnvBuilder(with_pip=False).create(environment)
    python = environment / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    with open(os.path.join(purelib, "dependencies.pth"), "w") as handle:
        handle.write("\n".join(sorted(ours)) + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                              "--no-deps", "--no-index", "--quiet",
                              "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "SCALING_DEBUG", "VIRTUAL_ENV")}
    env["PATH"] = f"{environment / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = folder / "elsewhere"
    work.mkdir()
    return python, env, work, wheel


def run(installed, *argv, timeout=300):
    python, env, work, _ = installed
    return subprocess.run([*argv], cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_installed_modules_are_the_wheels(installed):
    python, _, work, _ = installed
    done = run(installed, str(python), "-c",
               "import scaling.cli, scaling, ladders.launch, scaling.data.schedules; "
               "print(scaling.cli.__file__); print(scaling.__file__); "
               "print(ladders.launch.__file__)")
    assert done.returncode == 0, done.stderr
    files = done.stdout.split()
    environment = str(python.parent.parent)
    assert len(files) == 3 and all(f.startswith(environment) for f in files), files
    assert not any(f.startswith(str(ROOT)) for f in files)


def test_the_wheel_has_no_top_level_cli_module(installed):
    """The command is `scaling.cli:main`; the root cli.py (a shim for the checkout) stays out of
    the wheel, so no module named `cli` lands in site-packages."""
    python, _, _, wheel = installed
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (record,) = [n for n in names if n.endswith(".dist-info/RECORD")]
        recorded = [line.split(",")[0] for line in archive.read(record).decode().splitlines()]
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    for listing in (names, recorded):
        top_level = {name.split("/")[0] for name in listing}
        assert "cli.py" not in top_level and "cli" not in top_level, sorted(top_level)
        assert "scaling/cli/__init__.py" in listing and "scaling/cli/plan.py" in listing
    assert "scaling = scaling.cli:main" in scripts
    done = run(installed, str(python), "-c", "import cli")
    assert done.returncode == 1 and "No module named 'cli'" in done.stderr


def test_scaling_version(installed):
    python, _, _, _ = installed
    import scaling

    for command in ([str(python.parent / "scaling"), "--version"],
                    [str(python), "-m", "scaling", "--version"]):
        done = run(installed, *command)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"scaling {scaling.__version__}\n"


def test_scaling_help_and_laws(installed):
    python, _, _, _ = installed
    scaling = str(python.parent / "scaling")
    done = run(installed, scaling, "--help")
    assert done.returncode == 0, done.stderr
    assert "fit" in done.stdout and "ladder" in done.stdout
    for command in ([scaling, "laws"], [str(python), "-m", "scaling", "laws"]):
        done = run(installed, *command)
        assert done.returncode == 0, done.stderr
        assert "chinchilla" in done.stdout and "multipower" in done.stdout


def test_a_fit_and_a_prediction(installed):
    python, _, work, _ = installed
    runs = chinchilla_ladder(E=1.8, A=400, B=2000, alpha=0.34, beta=0.37,
                             params=[1e7, 3e7, 1e8, 3e8], tokens_per_param=[5, 10, 20, 40],
                             noise=0.0)
    runs.to_csv(work / "runs.csv", index=False)
    scaling = str(python.parent / "scaling")
    done = run(installed, scaling, "fit", "runs.csv", "--bootstrap", "0", "--out", "fit.json")
    assert done.returncode == 0, done.stderr
    assert "converged" in done.stdout
    done = run(installed, scaling, "predict", "fit.json", "--params", "1e9", "--tokens", "2e10")
    assert done.returncode == 0, done.stderr
    expected = 1.8 + 400 / 1e9 ** 0.34 + 2000 / 2e10 ** 0.37
    assert f"{expected:.5g}" in done.stdout
    done = run(installed, scaling, "fit", "nowhere.csv")
    assert done.returncode == 2 and done.stderr.strip() == \
        "scaling: error: nowhere.csv: no such file"


def test_ladder_dry_run_both_entry_points(installed):
    python, _, _, _ = installed
    spec = str(ROOT / "ladders" / "specs" / "cpu-tiny.toml")
    for command in ([str(python.parent / "scaling"), "ladder", "run", spec, "--dry-run"],
                    [str(python), "-m", "ladders.launch", spec, "--dry-run"]):
        done = run(installed, *command)
        assert done.returncode == 0, done.stderr
        assert "rungs" in done.stdout and "FLOPs" in done.stdout
    done = run(installed, str(python), "-m", "ladders.launch", spec)
    assert done.returncode == 2 and "--out PATH is required" in done.stderr


def test_a_bundled_spec_runs_by_name_from_another_directory(installed):
    """`scaling ladder run cpu-tiny` (no path) finds the wheel's packaged spec from a folder
    outside the checkout, and `scaling ladder specs` lists it."""
    python, _, work, _ = installed
    scaling = str(python.parent / "scaling")
    by_name = run(installed, scaling, "ladder", "run", "cpu-tiny", "--dry-run")
    assert by_name.returncode == 0, by_name.stderr
    by_path = run(installed, scaling, "ladder", "run",
                  str(ROOT / "ladders" / "specs" / "cpu-tiny.toml"), "--dry-run")
    assert by_name.stdout == by_path.stdout and "25 rungs" in by_name.stdout
    listed = run(installed, scaling, "ladder", "specs")
    assert listed.returncode == 0, listed.stderr
    assert "cpu-tiny" in listed.stdout and "gpu-small" in listed.stdout
    folder = str(python.parent.parent)                  # the wheel's copy, not the checkout's
    assert folder in listed.stdout and str(ROOT / "ladders") not in listed.stdout


def test_the_bundled_specs_are_in_the_wheel(installed):
    python, _, _, _ = installed
    done = run(installed, str(python), "-c", "import ladders, pathlib; print(sorted(p.name for p "
               "in (pathlib.Path(ladders.__file__).parent / 'specs').glob('*.toml')))")
    assert done.returncode == 0, done.stderr
    assert "cpu-tiny.toml" in done.stdout and done.stdout.count(".toml") >= 3


def test_the_wheel_carries_its_name_license_and_version(installed):
    """The distribution is `scaling-laws` (`scaling` on PyPI is another project), its license the
    SPDX expression with the LICENSE text inside, its version scaling.__version__."""
    python, env, work, _ = installed
    metadata = subprocess.run(
        [str(python), "-c", "from importlib.metadata import distribution as d; m = d('scaling-laws'); "
         "print(m.metadata['Name'], m.metadata['License-Expression'], m.version); "
         "print(sorted(str(f) for f in m.files if f.name == 'LICENSE'))"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert metadata.returncode == 0, metadata.stderr[-2000:]
    first, files = metadata.stdout.splitlines()
    import scaling
    assert first.split() == ["scaling-laws", "Apache-2.0", scaling.__version__]
    assert files.startswith("['scaling_laws-") and "/licenses/LICENSE'" in files
