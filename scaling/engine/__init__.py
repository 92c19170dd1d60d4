"""Layer 2, the engine every law shares: the Huber-in-log fit with multi-start (fitting), the
bootstrap, extrapolation-aware calibrated intervals (calibration), seed noise (seeds) and the
warnings about fits and predictions (diagnostics)."""
