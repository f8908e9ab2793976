"""Quantization for phone NPUs (int8 and lower, by measured sensitivity). Not built yet; see the issues."""
