"""Weights & Biases tracker for energy: ``energy train --tracker wandb``."""
