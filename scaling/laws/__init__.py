"""Scaling laws: the interface (`scaling.laws.base`), the registry (`scaling.laws.registry`),
chained laws (`scaling.laws.chain`) and one law a file beside them.

    from scaling.laws import get_law
    fit = get_law("chinchilla").fit(runs, bootstrap=1000)
    fit.params_["alpha"], fit.intervals_["alpha"], fit.predict(params=7e10, tokens=1.4e12)
"""

from scaling.engine.fitting import Parameter
from scaling.laws.base import FIT_FORMAT, Law, PreparedRuns, Setting, parse_settings
from scaling.laws.registry import LAWS, get_law, load_fit, register

__all__ = ["FIT_FORMAT", "LAWS", "Law", "Parameter", "PreparedRuns", "Setting", "get_law",
           "load_fit", "parse_settings", "register"]
