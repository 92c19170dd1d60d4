import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHINCHILLA = ROOT / "data" / "chinchilla" / "runs.parquet"
EPOCH_CSV = ROOT / "data" / "chinchilla" / "svg_extracted_data.csv"


@pytest.fixture(scope="session")
def chinchilla_240():
    """The bundled Chinchilla runs less the 5 highest-loss rows, as Epoch fitted them."""
    from scaling.data.runs import read_runs

    runs = read_runs(CHINCHILLA, where="loss < 3.44")
    assert len(runs) == 240
    return runs


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in gpu_items:
        if not has_gpu:
            item.add_marker(skip)


# The releases the fitted numbers were checked with: printed at the top of every run, so a
# tolerance that a new release breaks shows which release it was (tests/test_releases.py).
CORE = ("numpy", "scipy", "pandas", "pyarrow", "lmfit", "matplotlib", "torch")


def pytest_report_header(config):
    from importlib.metadata import PackageNotFoundError, version

    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return "releases: " + ", ".join(f"{name} {installed(name)}" for name in CORE)
