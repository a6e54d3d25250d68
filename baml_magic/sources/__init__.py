"""BAML source text: blocks, raw strings, test blocks and aliases, read as BAML's grammar reads them."""
