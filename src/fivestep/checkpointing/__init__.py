"""Checkpoints: atomic writes, the run state stored in them (config + RNGs), reading
them safely, and preparing a resume."""
