"""Evaluation: metrics computed from motion extracted back from rendered pixels, and the ablation table."""
