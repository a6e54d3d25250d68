"""The ``%baml`` commands: one table of records, each a command's parser and its handler (a function of the
``Host`` protocol and the parsed options, beside its feature); help is generated from it.

``%baml help`` lists every command with its usage and what it does; ``%baml help COMMAND`` prints
that command's parser help (every option with its own help text). ``%baml?`` shows the same.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from IPython.core.magic_arguments import MagicArgumentParser

from baml_magic.calls import MODES
from baml_magic.engine import kinds
from baml_magic.notebook._cache_command import cache_command
from baml_magic.notebook._client_commands import client_command, clients_command
from baml_magic.notebook._host import Host
from baml_magic.notebook._list_command import list_command
from baml_magic.notebook._loading import load_command
from baml_magic.notebook._optimize_command import optimize_command
from baml_magic.notebook._playground_command import playground_command
from baml_magic.notebook._runs_command import diff_command, runs_command
from baml_magic.notebook._test_command import baml_test_command
from baml_magic.notebook._trace_command import trace_command
from baml_magic.notebook._usage_command import usage_command


def without_comment(line: str) -> str:
    """A ``%baml`` line without its trailing ``# comment`` (a ``#`` inside quotes, or inside a word, stays)."""
    quote = None
    for i, ch in enumerate(line):
        if quote is not None:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


def _parser(command: str, description: str) -> MagicArgumentParser:
    return MagicArgumentParser(prog=f"%baml {command}", description=description, add_help=False)


_LOAD = _parser("load", "add a baml_src folder (default baml_src) and bind its functions, or only those named")
_LOAD.add_argument("targets", nargs="*", metavar="[DIR] [FUNCTION ...]",
                   help="the folder (default baml_src), then the functions to bind (default: all of them)")
_LOAD.add_argument("--engine", choices=kinds.NAMES, default=None,
                   help=f"the BAML language of the folder: {kinds.HELP} (default: BamlMagic.engine)")
_LIST = _parser("list", "bound functions: parameters, return type, client, where defined")
_CLIENT = _parser("client", "show or set the client every call uses (a project client or provider/model)")
_CLIENT.add_argument("name", nargs="?", help="a client of the project, or BAML's provider/model shorthand "
                                            "(openai/gpt-4o-mini); none: show the client in force")
_CLIENT.add_argument("--reset", action="store_true", help="each function uses its own client again")
_CLIENTS = _parser("clients", "the project's clients")
_USAGE = _parser("usage", "this session's calls per function: tokens, latency, first token")
_TEST = _parser("test", "run the project's BAML test blocks: each test x client x repeat, as a live grid")
_TEST.add_argument("patterns", nargs="*", metavar="PATTERN",
                   help="functions, tests or Function::Test to run (wildcards allowed); all when none")
_TEST.add_argument("--clients", default="", help="comma-separated clients, one column each (default: each "
                                                   "function's own)")
_TEST.add_argument("--repeat", type=int, default=1, help="runs of each test on each client")
_TEST.add_argument("--concurrency", type=int, default=8, help="calls in flight at once")
_TEST.add_argument("--cli", action="store_true", help="run them with BAML's own runner (baml-cli test) instead")
_TEST.add_argument("--last", action="store_true", help="the last grid again (also after an interrupt), as data")
_TEST.add_argument("--diff", nargs="?", const="previous", default=None, metavar="VERSION",
                   help="each cell against a version of its function (a number, v2, or a hash prefix; default: the "
                        "one run before this): verdicts better or worse, values field by field, cost and latency")
_TEST.add_argument("--fail-on-regression", action="store_true",
                   help="raise after the grid when a test that passed on the version compared against fails now "
                        "(compares against the previous version unless --diff names one)")
_PLAYGROUND = _parser("playground", "the playground widget (same as FUNCTION.playground())")
_PLAYGROUND.add_argument("function", help="a bound function")
_PLAYGROUND.add_argument("--stop-when", choices=["checks"], default=None, dest="stop_when",
                         help="end each run when a @check fails on a field the model has finished")
_CACHE = _parser("cache", "the response cache: on (read and write), record (always call, write), replay (read "
                            "only; a miss is an error), off, clear, info (the default)")
_CACHE.add_argument("action", nargs="?", default="info", choices=[*MODES, "clear", "info"])
_CACHE.add_argument("functions", nargs="*", help="clear: the functions whose answers to forget")
_CACHE.add_argument("--all", action="store_true", help="clear: every answer in the file")
_CACHE.add_argument("--path", help="the cache file, or a folder for responses.sqlite3 (e.g. next to the notebook)")
_CACHE.add_argument("--pace", action="store_true", help="replay at the recorded pace instead of at once")
_CACHE.add_argument("--no-pace", dest="pace", action="store_false")
_CACHE.set_defaults(pace=None)
_RUNS = _parser("runs", "the runs kept by version (every call, map, test and compare): show (the default), save "
                          "to a file (and keep saving there), load a file, clear, info, restore FUNCTION VERSION, "
                          "test FUNCTION RUN [NAME] (a kept answer as a BAML test)")
_RUNS.add_argument("action", nargs="?", default="show",
                   choices=["show", "save", "load", "clear", "info", "restore", "test"])
_RUNS.add_argument("targets", nargs="*", metavar="FUNCTION|FILE",
                   help="show, clear: the functions (default: all); save, load: the file, or a folder for "
                        "runs.sqlite3 (save's default: BamlMagic.runs_file, else next to the notebook); restore: "
                        "the function and its version; test: the function, the run (1: its newest, as %baml runs "
                        "FUNCTION lists them, or its id) and the test's name")
_RUNS.add_argument("--write", action="store_true", help="restore: also write a loaded folder's file")
_RUNS.add_argument("--expect", help="test: the answer's fields to assert (a,b), all (the whole answer) or an "
                                    "expression (\"this.score > 3\"); default: every field")
_DIFF = _parser("diff", "a function's BAML between two versions, next to how the answers of the same inputs moved")
_DIFF.add_argument("function", help="a bound function")
_DIFF.add_argument("versions", nargs="*", metavar="VERSION",
                   help="the version to compare (a number, v2, or a hash prefix; default: the one run before the "
                        "current), and the one to compare it with (default: the current)")
_OPTIMIZE = _parser("optimize", "BAML's prompt optimizer (GEPA) on a function and its test blocks, live: every "
                                  "candidate scored, the Pareto frontier; result.apply(N) binds one")
_OPTIMIZE.add_argument("function", nargs="?", help="a bound function with test blocks")
_OPTIMIZE.add_argument("--tests", nargs="+", default=[], metavar="PATTERN",
                       help="the test blocks to score with (BAML's --test syntax, e.g. 'Classify::*'; default: all "
                            "of the function's)")
_OPTIMIZE.add_argument("--auto", choices=["light", "medium", "heavy"],
                       help="BAML's budget sizes (6, 12, 18 candidates)")
_OPTIMIZE.add_argument("--trials", type=int, help="optimization iterations (BAML's default 20)")
_OPTIMIZE.add_argument("--max-evals", type=int, help="test evaluations across all iterations (BAML's default 50)")
_OPTIMIZE.add_argument("--weight", help="objectives and their weights, e.g. accuracy=0.8,tokens=0.2 (also latency, "
                                        "prompt_tokens, completion_tokens)")
_OPTIMIZE.add_argument("--reflection", metavar="CLIENT",
                       help="the client that proposes prompts (a project client or provider/model; default: the "
                            "function's own)")
_OPTIMIZE.add_argument("--folder", help="where the run's artifacts go (default: the session's cache folder)")
_OPTIMIZE.add_argument("--open", metavar="FOLDER", help="an earlier run's artifacts as a result (after a restart)")
_TRACE = _parser("trace", "OpenTelemetry GenAI spans for every call (OTEL_EXPORTER_OTLP_* honoured): on, off, "
                            "info (the default), flush (send what was recorded now)")
_TRACE.add_argument("action", nargs="?", default="info", choices=["on", "off", "info", "flush"])
_TRACE.add_argument("--content", action="store_true", default=None,
                    help="on: record prompts and answers too (scrubbed of secrets)")


@dataclass(frozen=True)
class Command:
    """A ``%baml`` command: its parser (usage, options, help) and its handler."""

    parser: MagicArgumentParser
    handler: Callable[[Host, argparse.Namespace], Any]

    def run(self, host: Host, args: list[str]) -> Any:
        """Parse the command's own arguments (a bad one is a ``UsageError``) and handle them."""
        return self.handler(host, self.parser.parse_args(args))


COMMANDS: dict[str, Command] = {
    "load": Command(_LOAD, load_command), "list": Command(_LIST, list_command),
    "client": Command(_CLIENT, client_command), "clients": Command(_CLIENTS, clients_command),
    "usage": Command(_USAGE, usage_command), "test": Command(_TEST, baml_test_command),
    "playground": Command(_PLAYGROUND, playground_command), "cache": Command(_CACHE, cache_command),
    "trace": Command(_TRACE, trace_command), "runs": Command(_RUNS, runs_command), "diff": Command(_DIFF, diff_command),
    "optimize": Command(_OPTIMIZE, optimize_command),
}
_HELP = _parser("help", "this help, or one command's: every option with what it does")
_HELP.add_argument("topic", nargs="?", metavar="COMMAND", help="a command (none: every command)")
_HELP_COMMAND = Command(_HELP, lambda host, options: None)  # the magic answers help itself (it prints)


def _unescaped(text: str) -> str:
    return text.replace("%%baml ", "%baml ")  # IPython's parser doubles a prog's % for its own formatting


def usage_line(parser: MagicArgumentParser) -> str:
    return _unescaped(" ".join(parser.format_usage().split()[1:]))  # without argparse's "usage:"


def overview() -> str:
    """Every command: its usage, then what it does."""
    lines = ["%%baml: compile the cell's BAML with the project and bind its functions.", ""]
    for command in [*COMMANDS.values(), _HELP_COMMAND]:
        lines += [usage_line(command.parser), f"    {command.parser.description}"]
    lines += ["", "%baml help COMMAND shows every option of a command."]
    return "\n".join(lines)


def help_text(topic: str | None) -> str:
    """``%baml help [COMMAND]``."""
    if topic is None:
        return overview()
    command = _HELP_COMMAND if topic == "help" else COMMANDS.get(topic)
    if command is None:
        raise KeyError(topic)
    return _unescaped(command.parser.format_help().rstrip())


def documented(method: Callable[..., Any]) -> Callable[..., Any]:
    """The magic's docstring (``%baml?``) generated from the command table."""
    method.__doc__ = overview()
    return method
