"""Runs kept by version of each function: the history, its file, and how answers moved between versions."""
