"""scaling: fit the published scaling laws of language models to run tables, with honest intervals.

Public API (`scaling.api`: each command of the CLI as a function, with its defaults):

    import scaling

    fit = scaling.fit("data/chinchilla/runs.parquet", where="loss < 3.44")   # a Fit
    fit.params                               # value, lower, upper, std_err, at_bound
    fit.predict(params=7e10, tokens=1.4e12)  # point, calibrated interval, reach, warnings
    print(fit.summary())                     # what `scaling fit` prints
    fit.save("fit.json"); fit = scaling.load("fit.json")
    scaling.backtest("data/chinchilla/runs.parquet", train="params < 2e8").summary()
    scaling.plan(1e22, fits=[fit]).summary()
    scaling.optimal("data/chinchilla/runs.parquet", approaches=(2, 3)).exponents   # an Optimal
    curves = fit.compare_schedules("peak=3e-3,warmup=60,steps=2400,final=3e-4")  # curve laws
    scaling.plot_schedules(curves)           # a matplotlib Figure

    law = scaling.get_law("annealing", decay=0.995)    # a Law declares; law.fit(runs) -> Fit

`import scaling` never imports torch, and `scaling/` never imports the ladder runner (`ladders`).
"""

from scaling.errors import ScalingError
from scaling.data.runs import final_rows, read_runs
from scaling.data.table_files import write_runs
from scaling.engine.fit import Fit
from scaling.laws import LAWS, Law, PreparedRuns, Setting, get_law, load_fit, register
from scaling.analysis.optimal import Optimal
from scaling.api import backtest, fit, load, optimal, plan
from scaling.output.schedule_figure import plot_schedules

__version__ = "0.1.0"

__all__ = ["Fit", "LAWS", "Law", "Optimal", "PreparedRuns", "ScalingError", "Setting",
           "__version__", "backtest", "final_rows", "fit", "get_law", "load", "load_fit",
           "optimal", "plan", "plot_schedules", "read_runs", "register", "write_runs"]
