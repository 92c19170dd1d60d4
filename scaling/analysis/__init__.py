"""Layer 3, analyses built on fitted laws: backtests, Hoffmann's approaches 1-3, the planning
report, schedule comparison and the compute-optimal vocabulary."""
