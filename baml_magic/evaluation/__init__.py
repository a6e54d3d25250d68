"""Evaluation: BAML test blocks and ad-hoc inputs across clients, as a live grid with BAML's verdicts."""
