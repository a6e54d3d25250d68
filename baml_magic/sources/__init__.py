"""BAML source text: blocks, raw strings, test blocks and aliases, read as BAML's grammar reads them."""

from __future__ import annotations

from baml_magic.sources._aliases import Aliases
from baml_magic.sources._blocks import (
    FunctionFacts,
    aliases,
    env_references,
    function_facts,
    literal_secrets,
    one_line_options,
    rebase_files,
    url_references,
    with_prompt,
)
from baml_magic.sources._lexer import Block, segments, split_blocks
from baml_magic.sources._source import SOURCE_ROOT, Source, cell_source, effective_files, folder_sources
from baml_magic.sources._test_blocks import MADE_MARK, Constraint, read_tests

__all__ = ["MADE_MARK", "SOURCE_ROOT", "Aliases", "Block", "Constraint", "FunctionFacts", "Source", "aliases",
           "cell_source", "effective_files", "env_references", "folder_sources", "function_facts", "literal_secrets",
           "one_line_options", "read_tests", "rebase_files", "segments", "split_blocks", "url_references",
           "with_prompt"]
