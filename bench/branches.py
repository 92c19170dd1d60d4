"""Branched ladder against dedicated cosine runs at the same token budgets (issue 5).

With cpu-tiny's settings (ladders/specs/cpu-tiny.toml) at its two smallest sizes, trains

  (a) the branched ladder: per size one warmup-stable run and a WSD cooldown branch per budget
      (linear decay over the last 20% of the budget, to 10% of the peak LR), and
  (b) the baseline: one dedicated cosine run per (size, budget), as cpu-tiny trained them before
      branches (warmup 5% of each run, cosine to the same 10% floor, so the final LRs match),

then prints, per (size, budget), both final losses and the branch's difference in %, the total
compute of each ladder (what it actually trained: stable runs + branch decays for (a)) with their
ratio, and both wall times. About 4 minutes on 2 CPU cores.

    python bench/branches.py [--sizes 2] [--budgets 2 4 8 16] [--out out/bench-branches]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ladders.launch import compute_summary, run_ladder  # noqa: E402
from ladders.spec import dump_toml  # noqa: E402
from scaling.output.format import table  # noqa: E402
from scaling.data.runs import final_rows  # noqa: E402

SPEC = ROOT / "ladders" / "specs" / "cpu-tiny.toml"


def specs(sizes: int, budgets: list[float], folder: Path) -> tuple[Path, Path]:
    """cpu-tiny's spec cut to its first `sizes` sizes: branched (a) and dedicated cosine (b)."""
    base = tomllib.loads(SPEC.read_text())
    base["model"]["sizes"] = base["model"]["sizes"][:sizes]
    branched = {**base, "ladder": {**base["ladder"], "name": "branched"},
                "branches": {**base["branches"], "per_param": budgets}}
    dedicated = {k: v for k, v in base.items() if k != "branches"}
    dedicated["ladder"] = {**base["ladder"], "name": "dedicated"}
    dedicated["tokens"] = {**base.get("tokens", {}), "per_param": budgets}
    dedicated["optimizer"] = {**base["optimizer"], "schedules": ["cosine"]}
    paths = folder / "branched.toml", folder / "dedicated.toml"
    for path, spec in zip(paths, (branched, dedicated)):
        path.write_text(dump_toml(spec))
    return paths


def train(spec: Path, out: Path):
    began = time.perf_counter()
    runs = run_ladder(spec, out, device="cpu", progress=False)
    return runs, time.perf_counter() - began


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, default=2, help="cpu-tiny's first K sizes (2)")
    parser.add_argument("--budgets", type=float, nargs="+", default=[2, 4, 8, 16],
                        help="tokens per parameter (default: 2 4 8 16, as cpu-tiny)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench-branches")
    args = parser.parse_args(argv)
    budgets = [int(b) if float(b).is_integer() else b for b in args.budgets]

    shutil.rmtree(args.out, ignore_errors=True)        # this benchmark's own folder: fresh runs
    args.out.mkdir(parents=True)
    branched_spec, dedicated_spec = specs(args.sizes, budgets, args.out)
    branched, branched_s = train(branched_spec, args.out / "branched.parquet")
    dedicated, dedicated_s = train(dedicated_spec, args.out / "dedicated.parquet")

    ends = final_rows(branched[~branched["stable"]]).set_index(["params", "tokens"])
    base = final_rows(dedicated).set_index(["params", "tokens"])
    body, differences = [], []
    for key, row in base.sort_index().iterrows():
        mine = ends.loc[key]
        difference = (mine["loss"] - row["loss"]) / row["loss"]
        differences.append(difference)
        body.append((f"{key[0]:,}", f"{key[1] / key[0]:.3g}", f"{key[1]:.3g}",
                     f"{row['loss']:.4f}", f"{mine['loss']:.4f}", f"{100 * difference:+.2f}%"))
    print(f"cpu-tiny's first {args.sizes} sizes, budgets {budgets} tokens/param; "
          "final held-out loss of each budget:\n")
    columns = ("params", "tokens/param", "tokens", "dedicated cosine", "WSD branch", "difference")
    print(table(columns, body, right=columns))
    mean = sum(abs(d) for d in differences) / len(differences)
    print(f"\nmean |difference| {100 * mean:.2f}%, worst {100 * max(differences, key=abs):+.2f}%")

    spent = compute_summary(branched)
    cosine = compute_summary(dedicated)["spent"]
    print(table(("ladder", "FLOPs trained", "wall s"),
                [("dedicated cosine runs", f"{cosine:.3g}", f"{dedicated_s:.0f}"),
                 ("branched (stable + decays)", f"{spent['spent']:.3g}", f"{branched_s:.0f}"),
                 ("ratio branched / dedicated", f"{spent['spent'] / cosine:.2f}",
                  f"{branched_s / dedicated_s:.2f}")],
                right=("FLOPs trained", "wall s")))
    assert abs(spent["dedicated"] - cosine) / cosine < 1e-9, "budgets differ between ladders"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
