"""What a run shows: figure callbacks, the figures themselves, hyperparameters.
Public Lightning and TensorBoard APIs only."""
