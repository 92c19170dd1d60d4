"""Layer 1, data: run tables (read, check, query, write), units, learning-rate schedules and
histories, task evaluations, synthetic ladders, and importers of foreign formats."""
