"""Evaluation commands: reconstruction quality and rate of the tokenizer against codec baselines."""
