"""What a call shows while it runs: the live view, its one refresh driver, a background run's handle."""
