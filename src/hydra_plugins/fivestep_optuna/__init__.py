"""fivestep's Optuna sweeper for Hydra (`hydra/sweeper=optuna`), on Optuna >= 4."""
