"""The common training loop, data corruption, checkpoints, history and evaluation.

Framework-specific code is only the step objects in each backend's ``train.py``.
"""
