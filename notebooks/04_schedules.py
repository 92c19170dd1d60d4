# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 Learning-rate schedules: fit a curve law, compare schedules
#
# The multi-power law (Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across
# Learning Rate Schedules") predicts a whole loss curve from the LR schedule:
# L(t) = L0 + A·(S1 + S_W)^−α − LD(t), S1 the area under the LR, LD the loss drop that each LR
# decrease buys. Fitted on the curves of some schedules, it predicts the curves of others.
#
# The bundled CPU schedule ladder (`data/cpu_schedules`) trained one model (width 64, 2 layers)
# for 1,200 steps under three schedules: constant, cosine and WSD with a 20% linear decay.

# %%
# %matplotlib inline
from pathlib import Path

import scaling

ROOT = Path("." if Path("data").is_dir() else "..")    # the repository (relative)
runs = scaling.read_runs(ROOT / "data/cpu_schedules/runs.parquet")
runs.groupby("schedule")["loss"].agg(["count", "last"])

# %% [markdown]
# ## Backtest: fit on constant and cosine, predict the WSD curve
# The law has never seen a WSD decay; every row of the held-out curve is judged, and its final
# row (the loss a team would plan with) on its own.

# %%
record = scaling.backtest(runs, "multipower", train="schedule.str.startswith('constant') or "
                          "schedule.str.startswith('cosine')", where="step > 100", bootstrap=20,
                          seed=0).record
print(f"WSD curve: mean |relative error| {100 * record['mean_pred_e']:.2f}% over its rows "
      f"(worst {100 * record['mean_worst_e']:.2f}%); final loss "
      f"{100 * record['test'][0]['rel_error']:+.2f}%")
assert record["mean_pred_e"] < 0.02 and abs(record["test"][0]["rel_error"]) < 0.04

# %% [markdown]
# ## Fit on all three, then compare schedules the ladder did not run
# Same peak LR, warmup and steps; the final loss of each schedule, with the law's interval.

# %%
fit = scaling.fit(runs, "multipower", where="step > 100", bootstrap=20, calibrate=False)
curves = fit.compare_schedules("peak=3e-3,warmup=60,steps=2400,final=3e-4", every=50,
                               kind="law")
table = curves.groupby("variant", sort=False).last()
table

# %%
scaling.plot_schedules(curves, observed=runs)

# %% [markdown]
# The decaying schedules end below the constant one, and the WSD decay buys its drop at the
# end: at twice the ladder's steps the law extrapolates, so read the gaps between schedules
# rather than the absolute losses.

# %%
assert table.loc["constant", "loss"] > max(table.loc["wsd 20%", "loss"], table.loc["cosine", "loss"])
