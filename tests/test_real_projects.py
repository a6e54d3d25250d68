"""Real BAML projects: every syntax BAML accepts loads, binds, prompts and answers offline (issue #10).

The corpus under tests/corpus has one project per feature page of BAML's documentation (types,
attributes, constraints, clients and strategies, retry policies, template strings, tests, dynamic
types, media, prompts).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import typing
from pathlib import Path

import pytest

from baml_magic._errors import BamlCompileError, MissingEnvVarError
from baml_magic.calls._signature import python_signature
from baml_magic.engine.v0 import V0Project
from baml_magic.local_llm._answers import answer_for
from baml_magic.sources import _lexer as sources
from baml_magic.sources._source import Source
from baml_magic.testing import conforms, sample_args
from tests.conftest import CLIENT, baml_cell

CORPUS = Path(__file__).parent / "corpus"
PROJECTS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and p.name != "fixtures")
HEADER = re.compile(r"^function\s+(\w+)\s*\(", re.M)


def _param_names(header: str) -> list[str]:
    """Parameter names of ``function F(a: T, b: map<K, V> @assert(x, {{ y }})) -> R``."""
    header = re.sub(r"\{\{.*?\}\}", "", header)
    inner = header[header.index("(") + 1:]
    names, depth, current = [], 0, ""
    for ch in inner:
        if depth == 0 and ch == ")":
            break
        if ch in "(<[{":
            depth += 1
        elif ch in ")>]}":
            depth -= 1
        if ch == "," and depth == 0:
            names.append(current)
            current = ""
        else:
            current += ch
    names.append(current)
    return [n.split(":")[0].strip() for n in names if n.strip()]


def _bound_here(shell, folder: Path) -> dict:
    magic = shell.magics_manager.registry["BamlMagic"]
    root = str(folder.resolve())
    return {n: f for n, f in magic.bound.items() if f.spec.source_key.startswith(root)}


# -- the lexer ----------------------------------------------------------------------------------

EDGE_CASES = [
    # {{ }} in a parameter's attribute: the old splitter took it for the body and invented a client block
    'function F(inp: string @assert(nonempty, {{ this|length > 0 }})) -> string {\n  client C\n'
    '  prompt #"{{ inp }}"#\n}\n',
    # a template_string has no braces: the block after it must survive
    'template_string Greet(name: string) #"\n  Hello {{ name }} {\n"#\nfunction After() -> string {\n'
    '  client C\n  prompt #"hi"#\n}\n',
    # raw strings with more #, quotes and braces inside
    'function G() -> string {\n  client C\n  prompt ###"a "## b "# c } { "###\n}\n',
    # comments of every kind holding keywords and braces
    '// class A {\n{// function B() {\n//}\n/// doc\nclass C {\n  x int // trailing }\n}\n',
    # aliases over several lines, with constraints and a union bar
    'type T = int @check(pos, {{ this > 0 }})\n  @assert(small, {{ this < 9 }})\ntype U = string\n  | int\n',
    # a URL is not a comment, client<llm> has template args, test args with nested objects and {{ }}
    'client<llm> C {\n  provider openai\n  options {\n    base_url https://x.test/v1\n  }\n}\n'
    'test T1 {\n  functions [F]\n  args { inp "x" obj { a { b "}" } } }\n  @@assert({{ this == "}" }})\n}\n',
    'dynamic class D {\n  extra string\n}\nfunction H(x: "a" | "b") -> map<string, int[]> {\n  client C\n'
    '  prompt #"x"#\n}\n',
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_segments_join_back_byte_for_byte(text: str) -> None:
    split = sources.split(text)
    assert not split.whole, split.reason
    pieces = sources.segments(text)
    assert "".join(text[a:b] for a, b, _ in pieces) == text
    assert all(pieces[i][1] == pieces[i + 1][0] for i in range(len(pieces) - 1))
    # Every block starts with its keyword and ends where its syntax ends.
    for block in split.blocks:
        body = text[block.start:block.end]
        assert body.split()[0] in ("class", "enum", "function", "client<llm>", "client", "test", "type", "dynamic",
                                   "template_string", "retry_policy", "generator")
        assert body.rstrip().endswith(("}", '"#', ")", "int", "string")), body


def test_blocks_of_the_edge_cases() -> None:
    found = [[(b.kind, b.name) for b in sources.split_blocks(t)] for t in EDGE_CASES]
    assert found[0] == [("function", "F")]
    assert found[1] == [("template_string", "Greet"), ("function", "After")]
    assert found[3] == [("class", "C")]
    assert found[4] == [("type", "T"), ("type", "U")]
    assert found[5] == [("client", "C"), ("test", "T1")]
    assert found[6] == [("dynamic", "D"), ("function", "H")]


@pytest.mark.parametrize("text", [
    "fn strange() { }\n",  # not BAML's top level as this lexer knows it
    'class A {\n  x int\n',  # a block that never closes
    'function F() -> string {\n  prompt #"never closed\n}\n',
])
def test_what_cannot_be_split_for_sure_is_kept_whole(text: str) -> None:
    split = sources.split(text)
    assert split.whole and split.reason and split.blocks == []


@pytest.mark.parametrize("project", PROJECTS)
def test_each_block_compiled_on_its_own_means_what_it_meant_in_the_file(shell, project: str) -> None:
    """The project split into one source per block binds the same functions with the same signatures."""
    folder = CORPUS / project
    shell.run_line_magic("baml", f"load {folder}")
    whole = {n: python_signature(f.spec) for n, f in _bound_here(shell, folder).items()}
    cells = []
    for n, path in enumerate(sorted(folder.rglob("*.baml"))):
        text = path.read_text()
        blocks = sources.split_blocks(text)
        assert blocks, path
        cells += [Source(f"cell:{n}-{path.stem}-{i}", f"cell {i}", f"cells/{n}_{path.stem}_{i}.baml",
                         text[b.start:b.end]) for i, b in enumerate(blocks)]
    compiled = V0Project(Path(os.environ["BAML_MAGIC_CACHE"])).update(cells)
    assert {n: python_signature(spec) for n, spec in compiled.functions.items()} == whole


# -- the corpus: load, bind, signatures, prompts, calls -------------------------------------------


@pytest.mark.slow  # every function of 12 projects, streamed and in one piece: about 20 s
@pytest.mark.parametrize("project", PROJECTS)
def test_corpus_project_binds_every_function_and_answers_offline(shell, project: str) -> None:
    folder = CORPUS / project
    shell.run_line_magic("baml", f"load {folder}")
    bound = _bound_here(shell, folder)
    declared = {name for path in folder.rglob("*.baml") for name in HEADER.findall(path.read_text())}
    assert set(bound) == declared, "every function BAML compiled is bound"
    for name, fn in sorted(bound.items()):
        sig = inspect.signature(fn)
        assert list(sig.parameters) == _param_names(fn.spec.baml_signature), name
        assert all(p.annotation is not typing.Any for p in sig.parameters.values()), name
        assert "ForwardRef" not in repr(fn.spec.params) + repr(fn.spec.returns), f"{name}: every name resolved"
        args = sample_args(fn)
        prompt = fn.prompt(**args)
        assert prompt.messages and any(m.content.strip() for m in prompt.messages), name
        value = fn(**args)
        assert conforms(value, fn.spec.returns, fn.compiled.types.types), f"{name} returned {value!r:.200}"
        assert fn.last.status == "done"
        whole = fn.with_options(stream=False)(**args)  # in one piece, through baml-py's blocking call
        assert conforms(whole, fn.spec.returns, fn.compiled.types.types), f"{name} returned {whole!r:.200}"
        assert fn.last.status == "done" and fn.last.partials == 0


def test_literal_and_recursive_types_in_signatures_and_arguments(shell) -> None:
    baml_cell(shell, CLIENT + '''
type Tree = string | map<string, Tree>
function Pick(reason: "a" | "b", tree: Tree) -> "x" | "y" {
  client Fast
  prompt #"{{ reason }} {{ tree }} {{ ctx.output_format }}"#
}
''')
    pick = shell.user_ns["Pick"]
    reason = inspect.signature(pick).parameters["reason"].annotation
    assert set(typing.get_args(reason)) == {typing.Literal["a"], typing.Literal["b"]} or \
        set(typing.get_args(reason)) == {"a", "b"}
    assert pick("a", {"k": {"deeper": "leaf"}}) in ("x", "y")
    with pytest.raises(TypeError, match="reason"):
        pick("c", "leaf")


def test_a_reserved_parameter_name_gets_the_generators_own_reason(shell) -> None:
    with pytest.raises(BamlCompileError) as caught:
        baml_cell(shell, CLIENT + 'function Uses(list: string) -> string {\n  client Fast\n'
                  '  prompt #"{{ list }}"#\n}\n')
    message = str(caught.value)
    line = len(("%%baml\n" + CLIENT.strip("\n")).splitlines()) + 1  # the function's line in the cell
    assert "list is a reserved word" in message and f"line {line}: " in message  # the cell's own line
    assert "Failed to build" not in message
    assert "Stack backtrace" not in message


def test_prompt_and_request_need_no_key_but_the_call_does(shell) -> None:
    os.environ.pop("CORPUS_UNSET_KEY", None)
    baml_cell(shell, '''
client<llm> Remote {
  provider openai
  options {
    model "gpt-4o-mini"
    api_key env.CORPUS_UNSET_KEY
  }
}
function Ask(q: string) -> string {
  client Remote
  prompt #"Answer {{ q }}"#
}
''')
    ask = shell.user_ns["Ask"]
    assert "Answer why" in repr(ask.prompt("why"))
    request = ask.request("why")
    assert request.url.startswith("https://api.openai.com")
    with pytest.raises(MissingEnvVarError, match="CORPUS_UNSET_KEY"):
        ask("why")


def test_dynamic_types_take_a_type_builder_per_call_and_in_options(shell) -> None:
    shell.run_line_magic("baml", f"load {CORPUS / 'dynamic_types'}")
    user_fn = shell.user_ns["DynamicUser"]
    tb = user_fn.type_builder()
    tb.User.add_property("email", tb.string())
    assert "email: string" in repr(user_fn.prompt("Ada", tb=tb))
    assert "email" not in repr(user_fn.prompt("Ada")), "a type builder applies to its call only"
    user = user_fn("Ada", tb=tb)
    assert "@" in user.model_extra["email"]
    categorize = shell.user_ns["DynamicCategorize"]
    tb2 = categorize.type_builder()
    tb2.Category.add_value("VALUE3")
    with_tb = categorize.with_options(tb=tb2)
    assert "VALUE3" in repr(with_tb.prompt("x"))
    results = with_tb.map(["a", "b"], concurrency=2)
    assert len(results) == 2


@pytest.mark.slow
def test_baml_test_resolves_media_by_relative_path_and_reports_reasons(shell, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "baml_src" / "nested").mkdir(parents=True)
    (project / "assets").mkdir()
    (project / "assets" / "receipt.png").write_bytes((CORPUS / "fixtures" / "receipt.png").read_bytes())
    (project / "baml_src" / "nested" / "media.baml").write_text(
        (CORPUS / "media" / "media.baml").read_text().replace("../fixtures/receipt.png", "../../assets/receipt.png"))
    (project / "baml_src" / "checks.baml").write_text('''
class Count {
  n int
}
function CountIt(text: string) -> Count {
  client Local
  prompt #"Count {{ text }}. {{ ctx.output_format }}"#
}
test NeverNegative {
  functions [CountIt]
  args { text "x" }
  @@assert(negative, {{ this.n < 0 }})
}
test CheckFails {
  functions [CountIt]
  args { text "x" }
  @@check(huge, {{ this.n > 1000 }})
}
test Fine {
  functions [CountIt]
  args { text "x" }
}
''')
    shell.run_line_magic("baml", f"load {project / 'baml_src'}")
    grid = shell.run_line_magic("baml", "test")
    verdicts = {o.row.split("::")[1]: (o.verdict, o.reason) for o in grid.outcomes}
    assert verdicts["ReceiptFromFile"] == verdicts["ReceiptFromBase64"] == verdicts["ReceiptFromUrl"] == ("pass", "")
    assert verdicts["NeverNegative"] == ("fail", "negative") and verdicts["CheckFails"] == ("fail", "huge - failed")
    table = shell.run_line_magic("baml", "test --cli")
    rows = {row[0]: row for row in table.rows}
    assert rows["ReceiptFromFile"][2] == "pass", rows["ReceiptFromFile"]
    assert rows["ReceiptFromBase64"][2] == "pass" and rows["ReceiptFromUrl"][2] == "pass"
    assert rows["Fine"][2] == "pass"
    assert rows["NeverNegative"][2] == "failed" and rows["NeverNegative"][3] == "negative"
    assert rows["CheckFails"][2] == "failed" and rows["CheckFails"][3] == "huge - failed"
    assert not any("function" in row[3] or "tests (" in row[3] for row in table.rows), table.rows


# -- the offline model reads every output format ---------------------------------------------------


@pytest.mark.slow
def test_offline_answers_fit_every_rendered_format(shell) -> None:
    """Each format BAML renders (options included) is parsed back by BAML from the offline answer."""
    baml_cell(shell, CLIENT + '''
enum Color {
  RED
  GREEN @alias("verde") @description("the green one")
}
class Node {
  value int
  children Node[]
}
enum Size {
  SMALL
  LARGE
}
class Item {
  name string @alias("item name")
  tags map<Size, int>
  color Color
  kind "a" | "b" | 3
  node Node?
}
''')
    variants = {
        "Default": "{{ ctx.output_format }}",
        "Prefix": '{{ ctx.output_format(prefix="Reply with:") }}',
        "NoPrefix": "{{ ctx.output_format(prefix=null) }}",
        "Options": '{{ ctx.output_format(always_hoist_enums=true, or_splitter=" | ", hoisted_class_prefix="interface",'
                   ' map_style="object") }}',
    }
    cells = []
    for suffix, fmt in variants.items():
        for ret in ("Item", "Item[]", "Color", "Color[]", "int", "float", "bool", "map<Size, Node>", "Node | string"):
            if suffix == "NoPrefix" and ret in ("int", "float", "bool"):
                continue  # without a prefix BAML renders nothing for a primitive: no model can know
            name = f"F{suffix}{abs(hash(ret)) % 10**6}"
            cells.append(f'function {name}(x: string) -> {ret} {{\n  client Fast\n  prompt #"About {{{{ x }}}}. '
                         f'{fmt}"#\n}}\n')
    baml_cell(shell, "\n".join(cells))
    magic = shell.magics_manager.registry["BamlMagic"]
    names = [n for n in magic.bound if n.startswith(("FDefault", "FPrefix", "FNoPrefix", "FOptions"))]
    assert len(names) == len(cells)
    for name in names:
        fn = magic.bound[name]
        value = fn("owls")
        assert conforms(value, fn.spec.returns, fn.compiled.types.types), f"{name}: {value!r:.200}"


def test_offline_prose_reads_as_sentences_on_the_topic() -> None:
    text = answer_for("Write a short story about a lighthouse keeper.", words=40)
    assert len(text.split()) == 40 and text.endswith(".")
    assert "lighthouse keeper" in text
    assert re.match(r"[A-Z]", text)
    assert answer_for("Write a short story about a lighthouse keeper.", words=40) == text, "deterministic"
    value = json.loads(answer_for("Tell me about otters.\nAnswer in JSON using this schema:\n{\n  title: string,\n}"))
    assert "otters" in value["title"]


def test_the_oldest_supported_baml_py_is_the_one_the_core_tests_run_on() -> None:
    """pyproject.toml's lower bound and the Makefile's second test run name the same release."""
    root = Path(__file__).parent.parent
    bound = re.search(r'"baml-py>=([\d.]+),<([\d.]+)"', (root / "pyproject.toml").read_text())
    oldest = re.search(r"^BAML_OLDEST := ([\d.]+)$", (root / "Makefile").read_text(), re.M)
    assert bound is not None and oldest is not None
    assert tuple(int(p) for p in oldest.group(1).split(".")) >= tuple(int(p) for p in bound.group(1).split("."))
    assert oldest.group(1).startswith(bound.group(1))


def test_the_generators_stand_in_bodies_keep_every_line_where_it_was(shell) -> None:
    """Function bodies are shortened for the generator; its diagnostics must still land on the right line."""
    cell = CLIENT + '''
function First(text: string) -> string {
  client Fast
  prompt #"
    one
    two
    three {{ text }}
  "#
}
function Second(list: string) -> string {
  client Fast
  prompt #"{{ list }}"#
}
'''
    with pytest.raises(BamlCompileError) as caught:
        baml_cell(shell, cell)
    # The %%baml line is line 1 of the cell; baml_cell strips the text's leading newline.
    line = ("%%baml\n" + cell.strip("\n")).splitlines().index("function Second(list: string) -> string {") + 1
    assert f"line {line}: BAML's generator: list is a reserved word" in str(caught.value), str(caught.value)
    assert f"{line} | function Second(list: string) -> string {{" in str(caught.value)
