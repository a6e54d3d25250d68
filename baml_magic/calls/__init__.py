"""One call of a function: its run, its driver, its stream, its request, its arguments and its cache."""
