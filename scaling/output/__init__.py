"""Layer 4, output: text reports, figures, the sealed fit file, atomic writes, output-path checks
and how a command ends (console)."""
