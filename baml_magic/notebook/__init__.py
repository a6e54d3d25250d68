"""The notebook surface: the magics, the bound functions and their commands, the session they share."""
