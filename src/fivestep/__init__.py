"""fivestep: the PyTorch fundamentals as a Lightning + Hydra training project.

Importing the package is cheap on purpose (no torch, no Lightning): the entry points
import what they need when they run, so `python train.py --help` stays fast.
"""

__version__ = "0.1.0"
