"""scaling: fit the published scaling laws of language models to run tables, with honest intervals.

Public API:

    from scaling import read_runs, get_law, load_fit

    from scaling.analysis import backtest
    runs = read_runs("data/chinchilla/runs.parquet", where="loss < 3.44")
    fit = get_law("chinchilla").fit(runs, bootstrap=1000)
    print(fit.report())

`import scaling` never imports torch, and `scaling/` never imports the ladder runner (`ladders`).
"""

from scaling.errors import ScalingError
from scaling.data.runs import final_rows, read_runs, write_runs
from scaling.laws import LAWS, Law, PreparedRuns, Setting, get_law, load_fit, register
from scaling.analysis.backtest import backtest

__version__ = "0.1.0"

__all__ = ["LAWS", "Law", "PreparedRuns", "ScalingError", "Setting", "backtest", "final_rows",
           "get_law", "load_fit", "read_runs", "register", "write_runs", "__version__"]
