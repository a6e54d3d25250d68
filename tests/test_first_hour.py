"""The first hour on a fresh machine (issue #33): what a newcomer meets, in real kernels.

Cell numbers as the notebook shows them, the README's first example pasted into a kernel that has nothing
set, advice for an unset key that prints nothing secret, a cancelled call that counts what arrived, a
request's URL shown but never its key, and text given where a function takes ``pdf | string``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from baml_magic import testing
from baml_magic.testing import Execution
from tests.conftest import Kernel, baml_cell
from tests.test_docs_code import _runnable, blocks

ROOT = Path(__file__).resolve().parent.parent
TAGGED = """
client<llm> Fast {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local"
  }
}
class Note {
  text string
}
function Jot(topic: string) -> Note {
  client Fast
  prompt #"A note on {{ topic }}. {{ ctx.output_format }}"#
}
"""


def _outputs(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif output["output_type"] == "error":
            parts.append("\n".join(output["traceback"]))
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_cells_are_named_by_the_number_the_notebook_shows(llm, tmp_path: Path, run_notebook) -> None:
    code = ["%load_ext baml_magic", "%%baml\n" + TAGGED.strip("\n"), "%baml list",
            "%%baml\nclass Broken {\n  x strin g\n}", "print(Jot.__doc__)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code])
    run_notebook(nb, tmp_path, allow_errors=True)
    defined, listing, broken, doc = nb.cells[1], nb.cells[2], nb.cells[3], nb.cells[4]
    assert defined.execution_count == 2 and broken.execution_count == 4  # the numbers the notebook shows
    assert f"cell In[{defined.execution_count}], line " in _outputs(listing), _outputs(listing)
    assert f"cell In[{broken.execution_count}], line 3:" in _outputs(broken), _outputs(broken)
    assert f"cell In[{defined.execution_count}]" in _outputs(doc), _outputs(doc)
    named = set(re.findall(r"cell In\[(\d+)\]", _outputs(listing) + _outputs(broken) + _outputs(doc)))
    assert named == {"2", "4"}, named


def _pasted(page: Path) -> list[str]:
    return [b.code for b in blocks(page.read_text()) if _runnable(b)]


@pytest.mark.parametrize("page", ["README.md", "docs/install.md"])
def test_the_first_example_runs_as_pasted_in_a_kernel_with_nothing_set(page: str, tmp_path: Path) -> None:
    from nbclient import NotebookClient

    code = _pasted(ROOT / page)
    assert any(c.startswith("%%baml") for c in code) and any("local_llm" in c for c in code)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code])
    # A newcomer's kernel: none of the suite's settings (no offline model's URL, no cache folder of ours).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCAL_LLM", "BAML_MAGIC"))}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute(
        env=env)
    shown = "\n".join(_outputs(c) for c in nb.cells)
    assert "Error" not in shown, shown
    assert nb.cells[-1].outputs, "the last cell shows its value"


def test_an_unset_key_names_the_variable_and_suggests_nothing_that_prints_it(kernel: Kernel) -> None:
    kernel.ok("%%baml\nclient<llm> Paid {\n  provider openai\n  options {\n    model \"gpt-4o-mini\"\n"
              "    api_key env.FIRST_HOUR_UNSET_KEY\n  }\n}\nfunction Paying(x: string) -> string {\n"
              "  client Paid\n  prompt #\"{{ x }}\"#\n}\n")
    failed = kernel.run("Paying('hi')")
    assert failed.status == "error"
    error = failed.reply["content"]
    line = f"{error['ename']}: {error['evalue']}"
    assert "FIRST_HOUR_UNSET_KEY is not set" in line and "getpass" in line, line
    assert "%env" not in line, "the advice must not print the key into the notebook"


def test_a_cancelled_call_counts_the_tokens_that_arrived(kernel: Kernel, llm) -> None:
    kernel.ok("%%baml\n" + TAGGED.replace("Fast", "Slowly").replace('"local"', '"local?tps=40&words=200"')
              .replace("Jot", "LongJot").replace("Note", "LongNote"))
    msg_id, execution = kernel.start("LongJot('tides')")

    def shown_words(execution: Execution) -> int:
        frames = execution.of_type("update_display_data", "display_data")
        pages = (re.sub(r"<[^>]+>", " ", f["content"]["data"].get("text/html", "")) for f in frames)
        return max((len(page.split()) for page in pages), default=0)

    # Interrupt once the client has shown 30 words of the answer (a loaded machine may buffer what was sent).
    kernel.collect(msg_id, execution, timeout=30, until=lambda e: shown_words(e) > 40)
    kernel.interrupt()
    kernel.collect(msg_id, execution, timeout=10)
    assert execution.reply["content"]["ename"] == "KeyboardInterrupt"
    views = execution.of_type("update_display_data")
    assert views and "tokens out (estimated)" in views[-1]["content"]["data"]["text/plain"], views[-1:]
    shown = kernel.ok("u = LongJot.last.usage; print(LongJot.last.status, u.output_tokens, u.estimated)").printed
    status, tokens, estimated = shown.split()
    assert status == "cancelled" and int(tokens) >= 20 and estimated == "True", shown
    assert re.search(r"LongJot\s+1\s+\S+\s+~?[1-9]\d*", kernel.ok("%baml usage").text), "usage counts them too"


def test_a_request_shows_its_url_but_never_its_key(kernel: Kernel, llm) -> None:
    key = "sk-first-hour-0123456789abcdef"
    kernel.ok(f"import os; os.environ['FIRST_HOUR_KEY'] = {key!r}; "
              "os.environ['FIRST_HOUR_PROXY'] = 'http://ann:pa55word-xyz@127.0.0.1:9/v1?token=qwerty123456'")
    kernel.ok("%%baml\nclient<llm> Keyed {\n  provider \"openai-generic\"\n  options {\n"
              "    base_url env.LOCAL_LLM_BASE_URL\n    model \"local\"\n    api_key env.FIRST_HOUR_KEY\n  }\n}\n"
              "client<llm> Proxied {\n  provider \"openai-generic\"\n  options {\n    base_url env.FIRST_HOUR_PROXY\n"
              "    model \"local\"\n  }\n}\n"
              "function Ask(q: string) -> string {\n  client Keyed\n  prompt #\"{{ q }}\"#\n}\n"
              "function AskProxy(q: string) -> string {\n  client Proxied\n  prompt #\"{{ q }}\"#\n}\n")
    curl = kernel.ok("print(Ask.request('hi').as_curl())").printed
    assert f"{llm.base_url}/chat/completions" in curl, curl
    assert key not in curl and '"authorization: Bearer ${FIRST_HOUR_KEY}"' in curl, curl
    proxied = kernel.ok("print(AskProxy.request('hi').as_curl())").printed
    assert "127.0.0.1:9" in proxied, proxied
    assert "pa55word-xyz" not in proxied and "qwerty123456" not in proxied, proxied


def test_a_pdf_or_string_parameter_takes_a_sentence_as_text(shell: testing.TestingShell, tmp_path: Path) -> None:
    baml_cell(shell, TAGGED.split("class")[0] + "function SearchDoc(document: pdf | string) -> string {\n"
              "  client Fast\n  prompt #\"Summarize {{ document }}\"#\n}\n")
    search = shell.user_ns["SearchDoc"]
    sentence = "Walmart net sales rose 5% in the quarter."
    text = search.prompt(sentence)
    assert sentence in repr(text) and not any(m.media for m in text.messages)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    for given in (str(pdf), pdf):  # an existing file, by its path or as a Path, is media
        media = search.prompt(given)
        assert str(pdf) not in repr(media) and any(m.media for m in media.messages), repr(media)
