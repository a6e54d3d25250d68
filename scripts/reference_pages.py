"""The reference pages made from the code: every %baml command and option (from the command table), every
BamlMagic setting (from its traitlets), every error a user can meet (from the exported exception classes).

``python scripts/reference_pages.py`` writes them into docs/; a test checks that the committed pages are
what this makes, so they cannot drift from the code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from baml_py import errors as baml_errors

import baml_magic
from baml_magic.notebook._commands import COMMANDS, Command, usage_line
from baml_magic.notebook._magics import BamlMagic

DOCS = Path(__file__).resolve().parent.parent / "docs"

# What each error means is its class's docstring; what to do about it is said here, once, for the reference.
WHAT_TO_DO = {
    "BamlMagicError": "Catch it to handle every error of baml_magic's own at once "
                      "(`except baml_magic.BamlMagicError`); baml-py's call errors below are re-exported as they are.",
    "TracingUnavailable": "Install the `otel` extra ([Installation](install.md)), or the two packages the message "
                          "names.",
    "BamlError": "Catch it to handle every error of a BAML call at once (`except baml_magic.BamlError`).",
    "BamlCompileError": "Fix the line it shows (the editor underlines it as you type); the functions bound before "
                        "keep working.",
    "BamlFunctionNotFound": "Use a name `%baml list` shows, or the one the message suggests.",
    "BamlSourceError": "Save the file as UTF-8, or fix its permissions.",
    "BatchError": "Use `Fn.map` for a provider without a batch API; otherwise fix what the message names.",
    "BatchItemError": "Read the item's reason; run the item again with `Fn(...)` or `Fn.map([...])`.",
    "CacheMiss": "Run once with `%baml cache on` (or `record`) to record the answer, or switch replay off.",
    "ChecksFailed": "A `@check` failed on a finished field of a call made with `stop_when=\"checks\"`; `.value` "
                    "and `Fn.last.partial` hold the partial. Fix the prompt, or call without `stop_when`.",
    "IncompleteAnswerError": "Raise the client's `max_tokens` or ask for less; `.value` holds what parsed; "
                             "`with_options(allow_incomplete=True)` (or `BamlMagic.allow_incomplete`) accepts it.",
    "MediaError": "Give a path, a URL, bytes or a media object; raise `BamlMagic.max_media_mb` for larger files.",
    "MissingEnvVarError": "Set the variable before Jupyter starts, or in a cell that echoes nothing: "
                          "`os.environ[NAME] = getpass.getpass()` (never `%env NAME=value`, which prints it).",
    "OptimizerError": "Do what the optimizer's own reason says: more `--max-evals` or fewer `--trials`, a test block "
                      "for the function, a reflection client it can call (`--reflection CLIENT`).",
    "RegressionError": "Look at the grid's diff above the error (`%baml diff FN` shows the BAML that changed); fix "
                       "the prompt, or run without `--fail-on-regression` to accept the change.",
    "MadeTestError": "Do what the message says: name a field the answer has, give the column a table lacks, or "
                     "another file name; nothing was made or written.",
    "RayMissing": "Install Ray with `pip install 'baml_magic[ray]'`, or map without `engine=\"ray\"`.",
    "RemoteCallError": "The call failed in a Ray worker: its class there and its message say why (a missing "
                       "variable is that worker's environment); `last_map.runs[i].node` names the node.",
    "RequestBuildError": "Fix the prompt template, or the client option, the message names.",
    "RetryWaitTooLong": "Raise `BamlMagic.max_retry_wait`, or slow the map down with `rpm=` / `tpm=`.",
    "UnknownClientError": "`%baml clients` lists the project's clients; `provider/model` shorthands work too.",
    "V1Unavailable": "Install the `v1` extra (`baml-bridge==0.23.0`), then restart the kernel.",
    "V1Unsupported": "Write the function in a v0 `%%baml` cell for that feature.",
    "BamlValidationError": "Read `raw_output`: the model did not answer in the declared type. Make the prompt "
                           "clearer (`{{ ctx.output_format }}`), or relax the type.",
    "BamlClientError": "A transport fault: the message says what failed; the partial is kept in `Fn.last`.",
    "BamlClientHttpError": "Read the HTTP status: 401 a key, 404 a model or URL, 429 a rate limit (use `Fn.map` "
                           "with `rpm=`), 5xx the provider.",
    "BamlTimeoutError": "Raise `timeout=` or `idle_timeout=` in `with_options`, or find out why the provider stalls.",
    "BamlAbortError": "The call was cancelled (an interrupt, `cancel()`, a `break`): the partial is in `Fn.last`.",
    "BamlClientFinishReasonError": "The provider stopped for a reason BAML was told to refuse; see the client's "
                                   "`finish_reason_allow_list` / `deny_list`.",
    "KeyboardInterrupt": "Nothing: the kernel is ready. The partial is in `Fn.last` (a map's finished results "
                         "in `Fn.last_map`).",
    "UsageError": "A `%baml` line with a wrong command or option: `%baml help COMMAND` lists them.",
}
BAML_ERRORS = ("BamlError", "BamlValidationError", "BamlClientError", "BamlClientHttpError", "BamlTimeoutError",
               "BamlAbortError", "BamlClientFinishReasonError")


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split()).replace("``", "`")


def _command(name: str, command: Command) -> list[str]:
    parser = command.parser
    lines = [f"## `%baml {name}`", "", parser.description[0].upper() + parser.description[1:] + ".", "",
             f"```text\n{usage_line(parser)}\n```", ""]
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    if actions:
        lines += ["| argument | what it does |", "| --- | --- |"]
        for action in actions:
            names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.metavar or action.dest}`"
            if action.choices:
                names += " (" + " \\| ".join(f"`{c}`" for c in action.choices) + ")"
            lines.append(f"| {names} | {(action.help or '').replace('|', '/')} |")
        lines.append("")
    return lines


def commands_page() -> str:
    lines = ["# `%baml` commands", "", "Every `%baml` command and each of its options, made from the command table "
             "the magic itself parses with. In a notebook, `%baml help` lists them and `%baml help COMMAND` shows "
             "one; `%baml?` shows the same.", "", "## `%%baml`", "",
             "Compile the cell's BAML with the session's project and bind its functions. The one option: "
             "`--engine v0|v1` (v1 is experimental; see [BAML v1](v1.md)).", ""]
    for name, command in COMMANDS.items():
        lines += _command(name, command)
    lines += ["## `%baml help`", "", "This help, or one command's: every option with what it does.", ""]
    return "\n".join(lines).rstrip() + "\n"


def settings_page() -> str:
    lines = ["# Settings", "", "Every setting of `BamlMagic`, from its traitlets. Set one in a cell with `%config` "
             "(`%config BamlMagic.refresh_hz = 10`), or for every kernel in `ipython_config.py` "
             "(`c.BamlMagic.refresh_hz = 10`). `%config BamlMagic` lists them with their values.", ""]
    for name, trait in sorted(BamlMagic.class_traits(config=True).items()):
        default = trait.default_value
        shown = "{}" if type(trait).__name__ == "Dict" else repr(default)
        kind = type(trait).__name__.replace("CaselessStrEnum", "one of").replace("Unicode", "str")
        values = getattr(trait, "values", None)
        if values:
            kind += " " + ", ".join(f"`{v}`" for v in values)
        lines += [f"## `{name}`", "", f"{kind}; default `{shown}`.", "", " ".join(str(trait.help).split()), ""]
    return "\n".join(lines).rstrip() + "\n"


def _errors() -> list[tuple[str, type[BaseException], bool]]:
    ours = [(n, getattr(baml_magic, n), False) for n in sorted(baml_magic.__all__)
            if isinstance(getattr(baml_magic, n), type) and issubclass(getattr(baml_magic, n), BaseException)
            and getattr(baml_magic, n).__module__.startswith("baml_magic")]
    theirs = [(n, getattr(baml_errors, n), True) for n in BAML_ERRORS]
    return ours + theirs


def errors_page() -> str:
    lines = ["# Errors", "", "Every error a call or a command can end in: what it means and what to do. Each is "
             "shown as one line in the notebook (no traceback, no secret); the link of each heading is stable, "
             "so an error can be looked up by its name. [Troubleshooting](troubleshooting.md) starts from what "
             "you see instead.", ""]
    for name, cls, from_baml in _errors():
        if name not in WHAT_TO_DO:
            raise KeyError(f"errors_page: say what to do about {name} in WHAT_TO_DO")
        base = next((b.__name__ for b in cls.__mro__[1:] if b.__module__.split(".")[0] in ("builtins", "baml_py")
                     and b is not Exception and b is not BaseException and b is not object), None)
        origin = f"baml-py's own, importable as `baml_magic.{name}`" if from_baml else f"`baml_magic.{name}`"
        meaning = _first_paragraph(cls.__doc__) if not from_baml else {
            "BamlError": "The base of every error of a BAML call.",
            "BamlValidationError": "The model's answer could not be parsed into the function's return type.",
            "BamlClientError": "The request failed before an HTTP answer (a refused connection, a broken stream).",
            "BamlClientHttpError": "The provider answered with an HTTP error.",
            "BamlTimeoutError": "The call did not finish (or did not stream a token) within its deadline.",
            "BamlAbortError": "The call was cancelled.",
            "BamlClientFinishReasonError": "The provider's stop reason is one the client refuses.",
        }[name]
        lines += [f"## {name}", "", f"{origin}{f', a kind of `{base}`' if base else ''}. {meaning}", "",
                  f"**What to do:** {WHAT_TO_DO[name]}", ""]
    lines += ["## KeyboardInterrupt", "", "Python's own, for an interrupt (the stop button, Ctrl-C) of a call, a "
              "stream, a map, a grid or a compile: one line saying what was cancelled and where its result is. The "
              "HTTP request was closed at once.", "", f"**What to do:** {WHAT_TO_DO['KeyboardInterrupt']}", ""]
    lines += ["## UsageError", "", "IPython's own, for a `%baml` or `%%baml` line it can't read. Shown as one line.",
              "", f"**What to do:** {WHAT_TO_DO['UsageError']}", ""]
    return "\n".join(lines).rstrip() + "\n"


WINGS = ("wire", "sources", "engine", "calls", "views", "observe", "many", "evaluation", "history", "optimize",
         "cluster", "notebook")
OUTSIDE = ("local_llm", "testing")  # a test double and test drivers: beside the product, never imported by it


def _summary(path: Path) -> str:
    """A module's docstring, first sentence."""
    import ast

    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.split(". ")[0].rstrip(".").replace("|", "/")


def _table(paths: list[Path], root: Path) -> list[str]:
    lines = ["| module | what it is |", "| --- | --- |"]
    for path in paths:
        name = path.relative_to(root).as_posix()
        lines.append(f"| `{name}` | {_summary(path)} |")
    return [*lines, ""]


def layout_page() -> str:
    package = Path(baml_magic.__file__).parent
    root = package.parent
    lines = ["# Layout", "", "The package in wings, each of one concern, made from the modules' own docstrings (so it "
             "cannot drift). A wing imports only the wings listed before it and the modules at the top; the "
             "offline model and the test drivers stand beside the product, which imports neither. "
             "`tests/test_layout.py` holds the code to these rules: no import climbs a wing, no circle (type-only "
             "imports included), at most a dozen modules at the top.", "",
             "The public surface is `baml_magic`'s `__all__`, `baml_magic.events`, `baml_magic.local_llm` and "
             "`baml_magic.testing`; every other module is private (`_name`).", "", "## The top", "",
             "The public API, errors, events, and what every wing shares (types, scrubbing, rendering values).", ""]
    lines += _table(sorted(p for p in package.glob("*.py")), root)
    for wing in (*WINGS, *OUTSIDE):
        folder = package / wing
        lines += [f"## {wing}/", "", _summary(folder / "__init__.py") + ".", ""]
        lines += _table(sorted(p for p in folder.rglob("*.py") if p.name != "__init__.py"), root)
    return "\n".join(lines).rstrip() + "\n"


def pages() -> dict[str, str]:
    return {"commands.md": commands_page(), "settings.md": settings_page(), "errors.md": errors_page(),
            "layout.md": layout_page()}


def main() -> None:
    for name, text in pages().items():
        (DOCS / name).write_text(text)
        print(f"docs/{name}", file=sys.stderr)


if __name__ == "__main__":
    main()
