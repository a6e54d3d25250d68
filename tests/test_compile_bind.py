"""%%baml and %baml load in an in-process shell: compile, bind, call, errors (issue: compile and bind)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from baml_magic._errors import BamlCompileError, BamlFunctionNotFound, MissingEnvVarError
from tests.conftest import CLIENT, STORY, baml_cell


def test_cell_binds_a_typed_function_with_a_real_signature(shell) -> None:
    baml_cell(shell, CLIENT + STORY)
    fn = shell.user_ns["GenerateStory"]
    sig = inspect.signature(fn)
    assert list(sig.parameters) == ["prompt"]
    assert sig.parameters["prompt"].annotation is str
    assert sig.return_annotation.__name__ == "Story"
    assert "Write a short story about {{ prompt }}" in fn.__doc__
    assert "function GenerateStory(prompt: string) -> Story" in fn.__doc__

    story = fn("dragons")
    assert isinstance(story, BaseModel) and type(story).__name__ == "Story"
    assert story.title and story.body
    assert fn(prompt="cats").title


def test_second_cell_uses_the_first_cells_class_and_client(shell) -> None:
    baml_cell(shell, CLIENT + STORY)
    baml_cell(shell, """
function Retitle(story: Story, style: string?) -> Story {
  client Fast
  prompt #"Retitle {{ story.title }} {{ style }}. {{ ctx.output_format }}"#
}
""")
    retitle = shell.user_ns["Retitle"]
    params = inspect.signature(retitle).parameters
    assert params["style"].default is None
    story = shell.user_ns["GenerateStory"]("owls")
    assert retitle(story).title
    assert retitle({"title": "t", "body": "b"}, style="noir").title


def test_rerunning_an_edited_cell_replaces_its_definitions(shell) -> None:
    shell.run_cell("%%baml\n" + CLIENT + STORY, cell_id="cell-a")
    edited = STORY.replace("body string", "body string\n  moral string").replace("GenerateStory", "Tell")
    shell.run_cell("%%baml\n" + CLIENT + edited, cell_id="cell-a")
    assert "GenerateStory" not in shell.user_ns, "the edited cell no longer defines it"
    story = shell.user_ns["Tell"]("a fox")
    assert story.moral


def test_a_later_cell_may_redefine_a_class_from_an_earlier_one(shell) -> None:
    baml_cell(shell, CLIENT + STORY)
    baml_cell(shell, "class Story {\n  title string\n  year int\n}\n")
    story = shell.user_ns["GenerateStory"]("time")
    assert set(type(story).model_fields) == {"title", "year"}


def test_typo_reports_the_cells_line_and_keeps_old_functions(shell, monkeypatch) -> None:
    monkeypatch.setenv("RUST_BACKTRACE", "1")
    baml_cell(shell, CLIENT + STORY)
    before = shell.user_ns["GenerateStory"]
    broken = CLIENT + STORY.replace("body string", "body strin g")
    with pytest.raises(BamlCompileError) as info:
        baml_cell(shell, broken)
    message = str(info.value)
    line = ("%%baml\n" + broken.strip("\n")).splitlines().index("  body strin g") + 1
    assert f"line {line}:" in message
    assert "body strin g" in message
    assert "Stack backtrace" not in message and "Traceback" not in message
    assert info.value._render_traceback_() == [f"\x1b[31mBamlCompileError\x1b[0m: {message}"]
    assert shell.user_ns["GenerateStory"] is before
    assert before("still works").title


def test_wrong_arguments_raise_type_error_naming_the_parameter(shell, llm) -> None:
    baml_cell(shell, CLIENT + STORY)
    fn = shell.user_ns["GenerateStory"]
    llm.reset()
    with pytest.raises(TypeError, match="'prompt'"):
        fn()
    with pytest.raises(TypeError, match="argument 'prompt' must be str"):
        fn(42)
    with pytest.raises(TypeError, match="unexpected keyword argument 'promt'"):
        fn(promt="x")
    assert llm.requests() == [], "no request may be sent for bad arguments"


def test_missing_api_key_names_the_variable(shell, monkeypatch) -> None:
    monkeypatch.delenv("MY_PROVIDER_KEY", raising=False)
    baml_cell(shell, """
client<llm> Keyed {
  provider openai
  options {
    model "gpt-4o-mini"
    api_key env.MY_PROVIDER_KEY
  }
}
function Ask(q: string) -> string {
  client Keyed
  prompt #"{{ q }}"#
}
""")
    with pytest.raises(MissingEnvVarError, match="MY_PROVIDER_KEY"):
        shell.user_ns["Ask"]("hi")


def _write_folder(root: Path) -> Path:
    src = root / "baml_src"
    src.mkdir()
    (src / "clients.baml").write_text(CLIENT + '\ngenerator target {\n  output_type "python/pydantic"\n'
                                      '  output_dir "../"\n  version "0.226.3"\n}\n')
    (src / "story.baml").write_text(STORY + """
function Summarize(text: string) -> string {
  client Fast
  prompt #"Summarize {{ text }}"#
}
""")
    return src


def test_load_folder_binds_all_or_named_functions(shell, tmp_path, monkeypatch) -> None:
    _write_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    shell.run_line_magic("baml", "load")
    assert {"GenerateStory", "Summarize"} <= set(shell.user_ns)
    assert isinstance(shell.user_ns["Summarize"]("a long text"), str)
    table = repr(shell.run_line_magic("baml", "list"))
    assert "baml_src/story.baml:" in table and "Fast" in table and "prompt: str" in table


def test_load_named_functions_only_and_unknown_name(shell, tmp_path) -> None:
    src = _write_folder(tmp_path)
    shell.run_line_magic("baml", f"load {src} Summarize")
    assert "Summarize" in shell.user_ns and "GenerateStory" not in shell.user_ns
    with pytest.raises(BamlFunctionNotFound, match="defines: GenerateStory, Summarize"):
        shell.run_line_magic("baml", f"load {src} Nope")


def test_cell_function_uses_a_class_from_a_loaded_folder(shell, tmp_path) -> None:
    src = _write_folder(tmp_path)
    shell.run_line_magic("baml", f"load {src}")
    baml_cell(shell, """
function Sequel(story: Story) -> Story {
  client Fast
  prompt #"Continue {{ story.title }}. {{ ctx.output_format }}"#
}
""")
    story = shell.user_ns["GenerateStory"]("a river")
    assert shell.user_ns["Sequel"](story).title


def test_list_html_and_unload_takes_names_back(shell) -> None:
    baml_cell(shell, CLIENT + STORY)
    html = shell.run_line_magic("baml", "list")._repr_html_()
    assert "<table" in html and "GenerateStory" in html and "cell In[" in html
    shell.user_ns["Mine"] = 1
    shell.run_line_magic("unload_ext", "baml_magic")
    assert "GenerateStory" not in shell.user_ns and shell.user_ns["Mine"] == 1
    shell.run_line_magic("load_ext", "baml_magic")


def test_unload_spares_a_name_the_user_overwrote(shell) -> None:
    baml_cell(shell, CLIENT + STORY)
    shell.user_ns["GenerateStory"] = "mine"
    shell.run_line_magic("unload_ext", "baml_magic")
    assert shell.user_ns["GenerateStory"] == "mine"
    shell.run_line_magic("load_ext", "baml_magic")


def test_baml_logs_stay_out_unless_baml_log_is_set(shell, capfd) -> None:
    assert "BAML_LOG" not in os.environ
    baml_cell(shell, CLIENT + STORY)
    shell.user_ns["GenerateStory"]("quiet")
    captured = capfd.readouterr()
    assert "[BAML" not in captured.err and "[BAML" not in captured.out


def test_several_client_options_on_one_line_are_caught_at_compile_time(shell) -> None:
    plain = 'client<llm> Fast {\n  provider "openai-generic"\n  options {\n    base_url env.LOCAL_LLM_BASE_URL\n' \
            '    model "local"\n  }\n}\n'
    one_line = plain.replace('options {\n    base_url env.LOCAL_LLM_BASE_URL\n    model "local"\n  }',
                             'options { base_url env.LOCAL_LLM_BASE_URL  model "local" }')
    with pytest.raises(BamlCompileError, match="put each option on its own line") as info:
        baml_cell(shell, one_line + STORY)
    cell = ("%%baml\n" + (one_line + STORY).strip("\n")).splitlines()
    line = next(i for i, text in enumerate(cell, 1) if "options {" in text)
    assert f"line {line}:" in str(info.value) and "options { base_url" in str(info.value)
    baml_cell(shell, CLIENT + STORY)  # the same client, one option a line, compiles
    # One option on one line is fine.
    baml_cell(shell, 'client<llm> Solo {\n  provider openai\n  options { model "gpt-4o-mini" }\n}\n')
