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
# # 01 Chinchilla: approaches 1–3 side by side
#
# Hoffmann et al. 2022 ("Training Compute-Optimal Large Language Models") estimate how a compute
# budget C should be split between parameters N and tokens D three ways:
#
# 1. the lower envelope of training curves over FLOPs (which run is best at each C);
# 2. isoFLOP profiles: at each budget, loss against log N is a valley, and its floor is N_opt;
# 3. a parametric law, L = E + A/N^α + B/D^β, minimised under C = 6ND: N_opt ∝ C^(β/(α+β)).
#
# Each gives N_opt = k·C^a; the paper's Table 2 has a = 0.50, 0.49 and 0.46. The bundled runs
# (`data/chinchilla`) are Epoch AI's reading of the paper's Figure 4: final losses only, so
# approaches 2 and 3 run on them; approach 1, which needs training curves, runs on the bundled
# CPU ladder.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from scaling.analysis.approach1_envelope import approach1
from scaling.analysis.approach2_isoflop import approach2, budget_minimum, isoflop_budgets
from scaling.analysis.approach3_parametric import approach3
from scaling.data.runs import read_runs

ROOT = Path.cwd() if (Path.cwd() / "data").is_dir() else Path.cwd().parent
runs = read_runs(ROOT / "data/chinchilla/runs.parquet", where="loss < 3.44")
BUDGETS = [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21]   # the paper's isoFLOP budgets
print(f"{runs['run'].nunique()} runs, {runs['params'].min():.3g} to {runs['params'].max():.3g} "
      "parameters")

# %% [markdown]
# ## Approach 2: isoFLOP profiles
# A parabola of loss in log N at each budget; a budget whose lowest loss sits at its smallest or
# largest model has no floor inside the sizes run, and is dropped.

# %%
second = approach2(runs, budgets=BUDGETS, tolerance=0.25, bootstrap=200, seed=0)
for dropped in second.dropped:
    print(f"dropped {dropped.flops:.0e}: {dropped.reason}")
groups = isoflop_budgets(runs, 0.25, "final", BUDGETS)
fig, ax = plt.subplots(figsize=(7, 4.5))
for points in groups:
    budget = float(points["budget"].iloc[0])
    line = ax.scatter(points["params"], points["loss"], s=10, label=f"{budget:.0e}")
    found, _ = budget_minimum(points)
    if found is not None:
        log_n = np.log(points["params"])
        grid = np.linspace(log_n.min(), log_n.max(), 50)
        ax.plot(np.exp(grid), np.polyval(np.polyfit(log_n, points["loss"], 2), grid),
                color=line.get_facecolor()[0])
        ax.scatter([np.exp(found[0])], [found[1]], marker="*", s=120, color="black", zorder=3)
ax.set_xscale("log")
ax.set_xlabel("parameters N")
ax.set_ylabel("final loss")
ax.legend(title="FLOPs", fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# ## Approach 3: the parametric fit

# %%
third = approach3(runs, bootstrap=200, seed=0)
third.details

# %% [markdown]
# ## Approach 1: training-curve envelope, on the CPU ladder
# `data/cpu_tiny` holds every evaluation of 5 sizes (seed 0: stable runs at constant LR and their
# cooldown branches), so the envelope exists; the Chinchilla table does not have it.

# %%
ladder = read_runs(ROOT / "data/cpu_tiny/runs.parquet", where="seed == 0")
first = approach1(ladder, bootstrap=200, seed=0)
third_ladder = approach3(ladder, where="not stable", bootstrap=200, seed=0)

# %% [markdown]
# ## Side by side

# %%
def row(name, data, result, paper, flops):
    low, high = result.params.exponent_interval
    return {"data": data, "approach": name, "a (N_opt ∝ C^a)": round(result.params.exponent, 3),
            "95% interval": f"[{low:.3f}, {high:.3f}]", "paper's a": paper,
            "C (FLOPs)": f"{flops:.0e}", "N_opt at C": f"{result.params(flops):.3g}"}


# C: a budget inside each table's range (the ladder's largest runs used about 1e13 FLOPs)
table = pd.DataFrame([row("2 isoFLOP profiles", "Chinchilla", second, 0.49, 1e21),
                      row("3 parametric", "Chinchilla", third, 0.46, 1e21),
                      row("1 envelope", "cpu_tiny", first, 0.50, 1e13),
                      row("3 parametric", "cpu_tiny", third_ladder, 0.46, 1e13)])
table

# %% [markdown]
# On the Chinchilla runs both approaches land above the paper's exponents: approach 3 at 0.51,
# as Epoch's replication found, and approach 2 at 0.55 with an interval that excludes the
# paper's 0.49. The points are a reading of a figure (FLOPs a few percent off the budgets, losses
# quantised by the colour bar), and the paper fitted its approaches on its own full data. On the
# CPU ladder the exponents are loose (five sizes over 10×): a ladder that small gives a decision
# a wide berth, and the intervals say so.

# %%
assert abs(third.params.exponent - 0.514) < 0.02
assert 0.50 < second.params.exponent < 0.60
assert second.params.exponent_interval[0] < second.params.exponent < second.params.exponent_interval[1]
