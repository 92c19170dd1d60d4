"""Layer 3, analyses built on fitted laws: backtests, Hoffmann's approaches 1-3, the planning
report, schedule comparison, the compute-optimal vocabulary and compute under a data limit."""
