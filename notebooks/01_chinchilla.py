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
# %matplotlib inline
from pathlib import Path

import pandas as pd

import scaling

ROOT = Path("." if Path("data").is_dir() else "..")    # the repository (relative)
BUDGETS = [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21]   # the paper's isoFLOP budgets
chinchilla = scaling.optimal(ROOT / "data/chinchilla/runs.parquet", where="loss < 3.44",
                             approaches=(2, 3), budgets=BUDGETS, tolerance=0.25, flops=[1e21])
print(chinchilla.summary())

# %% [markdown]
# ## Approach 2: isoFLOP profiles
# A parabola of loss in log N at each budget (left); a budget whose lowest loss sits at its
# smallest or largest model has no floor inside the sizes run, and is dropped (3e21 above). Right:
# N_opt against C by approaches 2 and 3, with their 95% intervals.

# %%
chinchilla.plot()

# %% [markdown]
# ## Approach 3: the parametric fit
# The chinchilla law fitted to the same final losses; its exponents follow from α and β.

# %%
chinchilla.results[3].details

# %% [markdown]
# ## Approach 1: training-curve envelope, on the CPU ladder
# `data/cpu_tiny` holds every evaluation of 5 sizes (seed 0: stable runs at constant LR and their
# cooldown branches), so the envelope exists; the Chinchilla table does not have it.

# %%
LADDER = ROOT / "data/cpu_tiny/runs.parquet"
first = scaling.optimal(LADDER, where="seed == 0", approaches=1, flops=[1e13])
third_ladder = scaling.optimal(LADDER, where="seed == 0 and not stable", approaches=3,
                               flops=[1e13])

# %% [markdown]
# ## Side by side
# N_opt at a budget C inside each table's range (the ladder's largest runs used about 1e13 FLOPs).

# %%
def side(data, result):
    at_c = result.allocation.set_index("approach")[["flops", "params"]]   # N_opt at C
    return result.exponents.join(at_c).assign(data=data)


table = pd.concat([side("Chinchilla", chinchilla), side("cpu_tiny", first),
                   side("cpu_tiny", third_ladder)])
table[["data", "name", "a", "a_lower", "a_upper", "paper_a", "flops", "params"]].round(3)

# %% [markdown]
# On the Chinchilla runs both approaches land above the paper's exponents: approach 3 at 0.51,
# as Epoch's replication found, and approach 2 at 0.55 with an interval that excludes the
# paper's 0.49. The points are a reading of a figure (FLOPs a few percent off the budgets, losses
# quantised by the colour bar), and the paper fitted its approaches on its own full data. On the
# CPU ladder the exponents are loose (five sizes over 10×): a ladder that small gives a decision
# a wide berth, and the intervals say so.

# %%
a = chinchilla.exponents
assert abs(a.loc[3, "a"] - 0.514) < 0.02
assert 0.50 < a.loc[2, "a"] < 0.60
assert 0.49 < a.loc[2, "a_lower"] < a.loc[2, "a"] < a.loc[2, "a_upper"]
