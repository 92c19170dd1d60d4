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
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from scaling.analysis.backtest import backtest
from scaling.laws import get_law
from scaling.analysis.schedule_comparison import compare_schedules
from scaling.data.runs import read_runs

ROOT = Path.cwd() if (Path.cwd() / "data").is_dir() else Path.cwd().parent
runs = read_runs(ROOT / "data/cpu_schedules/runs.parquet")
runs.groupby("schedule")["loss"].agg(["count", "last"])

# %% [markdown]
# ## Backtest: fit on constant and cosine, predict the WSD curve
# The law has never seen a WSD decay; every row of the held-out curve is judged, and its final
# row (the loss a team would plan with) on its own.

# %%
record = backtest(runs, "multipower", train="schedule.str.startswith('constant') or "
                  "schedule.str.startswith('cosine')", where="step > 100", bootstrap=20, seed=0)
print(f"WSD curve: mean |relative error| {100 * record['mean_pred_e']:.2f}% over its rows "
      f"(worst {100 * record['mean_worst_e']:.2f}%); final loss "
      f"{100 * record['test'][0]['rel_error']:+.2f}%")
assert record["mean_pred_e"] < 0.02 and abs(record["test"][0]["rel_error"]) < 0.04

# %% [markdown]
# ## Fit on all three, then compare schedules the ladder did not run
# Same peak LR, warmup and steps; the final loss of each schedule, with the law's interval.

# %%
law = get_law("multipower").fit(runs, where="step > 100", bootstrap=20, calibrate=False)
curves = compare_schedules(law, "peak=3e-3,warmup=60,steps=2400,final=3e-4", every=50,
                           kind="law")
table = pd.DataFrame({name: curve.iloc[-1][["loss", "lower", "upper"]]
                      for name, curve in curves.items()}).T
table

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, curve in curves.items():
    ax.plot(curve["step"], curve["loss"], label=f"{name} (predicted, 2,400 steps)")
for schedule, rows in runs.groupby("schedule"):
    ax.scatter(rows["step"], rows["loss"], s=6, label=f"{schedule.split(':')[0]} (observed, "
               "1,200 steps)")
ax.set_xlabel("step")
ax.set_ylabel("held-out loss")
ax.set_ylim(runs["loss"].min() - 0.2, runs.loc[runs["step"] > 100, "loss"].max())
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# The decaying schedules end below the constant one, and the WSD decay buys its drop at the
# end: at twice the ladder's steps the law extrapolates, so read the gaps between schedules
# rather than the absolute losses.

# %%
assert table.loc["constant", "loss"] > max(table.loc["wsd 20%", "loss"], table.loc["cosine", "loss"])
