"""Many inputs: maps within rate limits, provider batch APIs, results as rows."""
