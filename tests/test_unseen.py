"""Issue #24: projects nobody here has seen. Hand-written formats answered by the declared type, classifiers
that read their input, recursive aliases resolved in signatures, other BAML versions named in one line."""

from __future__ import annotations

import enum
import inspect
import json
import subprocess
import sys

import pytest

from baml_magic import _call_hooks as call_hooks
from baml_magic.local_llm import _expect as offline
from baml_magic.local_llm._answers import answer_for, classify
from baml_magic.testing.replay import replay_server
from tests.conftest import CLIENT, baml_cell

HANDWRITTEN = CLIENT + '''
class Step {
  thought string
  tool "search" | "answer"
}
class Turn {
  sutra_memory string @alias("memory")
  steps Step[]
  finished bool @alias("done")
}
function Plan(task: string) -> Turn {
  client Fast
  prompt #"
    Task: {{ task }}
    Reply with JSON like:
    ```json
    {"memory": "...", /* what you remember */ "steps": [{"thought": "...", "tool": "search|answer"}] "done": false}
    ```
  "#
}
'''


class Sentiment(enum.Enum):
    POSITIVE = "POSITIVE"
    NEGATIVE = "NEGATIVE"
    NEUTRAL = "NEUTRAL"


@pytest.mark.parametrize(("text", "expected"), [
    ("The soup was cold and the waiter rude.", "NEGATIVE"), ("Lovely food, friendly staff!", "POSITIVE"),
    ("It is a chair.", "NEUTRAL"), ("Five stars, the kids adore it.", "POSITIVE"),
])
def test_a_sentiment_classifier_reads_its_input(text: str, expected: str) -> None:
    prompt = f"Classify the review as POSITIVE, NEGATIVE or NEUTRAL.\nReview: {text}"
    assert classify(["POSITIVE", "NEGATIVE", "NEUTRAL"], prompt) == {expected}
    assert answer_for(prompt, returns=offline.notation(Sentiment)) == expected


def test_value_words_decide_other_classifiers() -> None:
    assert classify(["Bug", "FeatureRequest", "Question"], "Ticket: the app crashes, a bug in settings") == {"Bug"}
    assert classify(["SPAM", "NOT_SPAM"], "hello there") == {"SPAM", "NOT_SPAM"}, "no evidence: every value"


@pytest.mark.slow
def test_a_hand_written_format_is_answered_with_the_declared_type(shell, llm) -> None:
    baml_cell(shell, HANDWRITTEN)
    plan = shell.user_ns["Plan"]
    for value in (plan("find owls"), plan.with_options(stream=False)("find owls")):
        assert type(value).__name__ == "Turn" and value.sutra_memory and value.steps
        assert all(step.tool in ("search", "answer") for step in value.steps)
        assert "owls" in value.sutra_memory, "sentences on the prompt's topic"
    values = plan.batch(["a", "b"], poll=0.1).result(timeout=30)
    assert [type(v).__name__ for v in values] == ["Turn", "Turn"]


def test_the_return_type_is_told_only_to_the_offline_model(llm) -> None:
    assert call_hooks.listening(), "the offline model started in this process listens on the call hook"
    with replay_server() as other:  # a server on loopback that is not the offline model
        other.use({"source": "a stand-in", "body": {"status": 404, "json": {}}})
        body = {"model": "local", "messages": [{"role": "user", "content": "a hand-written format"}]}
        call_hooks.tell([call_hooks.Expected(url, body, str, {}) for url in (
            f"{other.url}/v1/chat/completions", "https://api.openai.com/v1/chat/completions")])
        assert other.requests == [], "no other server is told, or probed"


def test_the_product_imports_nothing_of_the_offline_model() -> None:
    code = ("import sys, baml_magic, baml_magic.notebook._magics, baml_magic.notebook._function, "
            "baml_magic.calls._drive, baml_magic.notebook._batching\n"
            "print(sorted(m for m in sys.modules if m.startswith('baml_magic.local_llm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_recursive_aliases_resolve_in_signatures_and_take_arguments(shell) -> None:
    baml_cell(shell, CLIENT + '''
type JsonValue = int | float | bool | string | null | JsonValue[] | map<string, JsonValue>
function Echo(data: JsonValue) -> JsonValue {
  client Fast
  prompt #"{{ data }}"#
}
''')
    echo = shell.user_ns["Echo"]
    annotation = inspect.signature(echo).parameters["data"].annotation
    assert "ForwardRef" not in repr(annotation) and "JsonValue" in repr(annotation)
    prompt = echo.prompt({"a": [1, {"b": None}]})
    assert json.loads(prompt.messages[-1].content.replace("none", "null")) == {"a": [1, {"b": None}]}
    with pytest.raises(TypeError, match="data"):
        echo(object())


def test_another_baml_version_is_named_in_one_line(shell, capsys) -> None:
    baml_cell(shell, 'generator target {\n  output_type "python/pydantic"\n  version "0.55.0"\n}\n' + CLIENT)
    out = capsys.readouterr().out
    assert "generator target names BAML 0.55.0; running with the installed baml-py" in out
    assert out.count("0.55.0") == 1


SHAPES = '''
class A {
  kind "a"
  x int @check(positive, {{ this > 0 }})
}
class B {
  kind "b"
  y string @assert(short, {{ this|length < 200 }})
}
class Node {
  value int
  children Node[]
}
type JsonV = int | string | bool | JsonV[] | map<string, JsonV>
enum Tone {
  Happy @alias("happy") @description("glad")
  Sad @alias("sad")
}
enum Mood {
  CALM
  EXCITED
}
class Review {
  tone Tone
  score int @description("1-10")
  summary string
  @@assert(valid, {{ this.score >= 1 }})
}
'''
RETURNS = ["A | B", "Node", "JsonV", "map<string, int>", "(A | B)[]", "Review", "Tone", "int[]", '"yes" | "no"',
           "float", "bool", "Review?", "string[]", "map<Mood, string>", "Review[]"]
# (An aliased enum as map keys is left out: BAML renders the aliases and keeps a map's keys as written, so even a
# model that follows BAML's own format gets keys that are not the enum's values.)
STYLES = {  # a prompt with no format, one that asks for JSON, BAML's format, BAML's format with a prefix of its own
    "bare": "Answer about {{ x }}.",
    "json": "Answer about {{ x }}. Respond only with JSON.",
    "format": "Answer about {{ x }}. {{ ctx.output_format }}",
    "prefixed": '{{ _.role("system") }} You return JSON. {{ ctx.output_format(prefix="Schema:\\n") }} '
                '{{ _.role("user") }} {{ x }}',
}


@pytest.mark.slow
def test_every_return_type_is_answered_in_its_type_whatever_the_prompt_says(shell) -> None:
    from baml_magic.testing import conforms

    functions = {f"R{i}_{style}": (returns, prompt) for i, returns in enumerate(RETURNS)
                 for style, prompt in STYLES.items()}
    baml_cell(shell, CLIENT + SHAPES + "".join(
        f'function {name}(x: string) -> {returns} {{\n  client Fast\n  prompt #"{prompt}"#\n}}\n'
        for name, (returns, prompt) in functions.items()))
    wrong = []
    for name in functions:
        fn = shell.user_ns[name]
        value = fn(x="a movie")
        if not conforms(value, fn.spec.returns, fn.compiled.types.types):
            wrong.append(f"{name}: {value!r:.80}")
    assert not wrong, wrong
