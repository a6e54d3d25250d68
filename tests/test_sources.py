"""Top-level block splitting: the basis of 'a newer definition replaces an older one'."""

from baml_magic.sources import _blocks
from baml_magic.sources import _lexer as sources

TEXT = '''
// a comment with class Fake { inside
client<llm> Fast {
  provider "openai-generic"
  options {
    model "local"
  }
}

class Story {
  title string @description("has a } brace")
}

function Tell(s: Story) -> string {
  client "openai/gpt-4o-mini"
  prompt #"
    A {{ s.title }} with } and { braces "quoted"
  "#
}

type Alias = Story | string
test T { functions [Tell] args { s { title "x" } } }
'''


def test_split_blocks_finds_each_definition_with_its_line() -> None:
    blocks = sources.split_blocks(TEXT)
    assert [(b.kind, b.name, b.line) for b in blocks] == [
        ("client", "Fast", 3),
        ("class", "Story", 10),
        ("function", "Tell", 14),
        ("type", "Alias", 21),
        ("test", "T", 22),
    ]
    tell = next(b for b in blocks if b.name == "Tell")
    assert TEXT[tell.start:tell.end].rstrip().endswith('"#\n}')


def test_mask_blanks_a_block_but_keeps_line_numbers() -> None:
    blocks = sources.split_blocks(TEXT)
    story = [b for b in blocks if b.name == "Story"]
    masked = sources.mask(TEXT, story)
    assert masked.count("\n") == TEXT.count("\n")
    assert "class Story" not in masked
    assert "function Tell" in masked
    assert [b.name for b in sources.split_blocks(masked)] == ["Fast", "Tell", "Alias", "T"]


def test_function_client_prompt_and_env() -> None:
    blocks = {b.name: TEXT[b.start:b.end] for b in sources.split_blocks(TEXT)}
    facts = _blocks.function_facts(blocks["Tell"])
    assert facts.client == "openai/gpt-4o-mini"
    assert "{{ s.title }}" in (facts.prompt or "")
    assert facts.header == "function Tell(s: Story) -> string"
    assert _blocks.env_references('options { api_key env.OPENAI_API_KEY base_url env.X }') == ["OPENAI_API_KEY", "X"]
