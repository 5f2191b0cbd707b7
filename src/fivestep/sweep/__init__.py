"""Sweeps: the Optuna search space and study, per-epoch pruning, the summary table.

The Hydra sweeper plugin itself lives in `hydra_plugins.fivestep_optuna` (Hydra finds
plugins only in that namespace package); it uses the modules here.
"""
