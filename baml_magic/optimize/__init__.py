"""BAML's prompt optimizer (``baml-cli optimize``) on the session's project: its run, its live view, its result."""
