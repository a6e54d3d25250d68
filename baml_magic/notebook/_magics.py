"""``%%baml`` and ``%baml``: compile BAML from cells and folders, bind functions, inspect them.

Configuration lives in traitlets on ``BamlMagic`` (``%config BamlMagic.refresh_hz = 20``).
Arguments are parsed with IPython's ``magic_arguments``: unknown flags and bad quoting are a
``UsageError``, and ``%baml?`` shows the help.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import TraitError, observe, validate

from baml_magic import _render as render
from baml_magic._errors import BamlFunctionNotFound, interrupted
from baml_magic._render import Bound, Table
from baml_magic.calls import Limits as media_limits
from baml_magic.calls import cache_file, python_signature
from baml_magic.engine import Compiled, Project, default_cache_dir, kinds, writable_cache_dir
from baml_magic.notebook import _clients as clients
from baml_magic.notebook._binding import Binder, bound_note, notes_of
from baml_magic.notebook._cache_command import cache_command
from baml_magic.notebook._cell_number import running_cell_number
from baml_magic.notebook._commands import COMMANDS, documented, help_text, without_comment
from baml_magic.notebook._loading import load_folder
from baml_magic.notebook._magic_options import MagicOptions
from baml_magic.notebook._optimize_command import optimize, optimize_command
from baml_magic.notebook._playground import Playground
from baml_magic.notebook._rebind import restore
from baml_magic.notebook._runs_command import diff_command, runs_command, use_runs_file
from baml_magic.notebook._session import Session
from baml_magic.notebook._test_command import baml_test_command
from baml_magic.notebook._trace_command import trace_command
from baml_magic.observe import USAGE_HEADERS, TracingUnavailable, checked_prices, usage_rows
from baml_magic.sources import cell_source
from baml_magic.views import finish_ended


@magics_class
class BamlMagic(Magics, MagicOptions):
    """Write BAML in ``%%baml`` cells or load a ``baml_src`` folder; call its functions from Python.

    Its settings (``%config BamlMagic.NAME = ...``) are ``MagicOptions``'."""

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self.session = Session.create(self, Path(self.cache_dir) if self.cache_dir else None)
        self.binder = Binder(shell, self.session)
        self.bound = self.binder.bound
        self.session.open_playground = self._open_playground
        self.session.optimize = lambda fn, budget, reflection, folder: optimize(
            fn, self.session, self, budget=budget, reflection=reflection, folder=folder)
        self.session.restore = lambda fn, version, write: restore(self, fn, version, write)
        self._cache_changed()
        self._media_limit_changed()
        self._runs_file_changed()
        self._cell_id: str | None = None
        self._cell_runs = 0
        if shell is not None:
            shell.events.register("pre_run_cell", self._pre_run_cell)
            shell.events.register("post_run_cell", self._post_run_cell)

    @validate("prices")
    def _valid_prices(self, proposal: Any) -> Any:
        try:
            checked_prices(proposal["value"])
        except ValueError as exc:
            raise TraitError(str(exc)) from None
        return proposal["value"]

    @validate("max_media_mb")
    def _valid_media_limit(self, proposal: Any) -> Any:
        if not math.isfinite(proposal["value"]) or proposal["value"] <= 0:
            raise TraitError(f"max_media_mb must be a positive number of MB, got {proposal['value']!r}")
        return proposal["value"]

    @observe("max_media_mb")
    def _media_limit_changed(self, change: Any = None) -> None:
        media_limits.max_bytes = int(self.max_media_mb * 1e6)

    @observe("trace")
    def _trace_changed(self, change: Any = None) -> None:
        tracing = self.session.tracing
        try:
            tracing.start() if self.trace else tracing.stop() if tracing.enabled else None
        except TracingUnavailable as exc:
            self.trace = False
            # `%config` turns an error here into a logging line ("ERROR:root:..."): say it as IPython would.
            print(f"UsageError: {exc}", file=sys.stderr)

    def _trace(self, options: argparse.Namespace) -> Table | str:
        return trace_command(self, options)

    @observe("runs_kept")
    def _runs_kept_changed(self, change: Any = None) -> None:
        self.session.history.limit = max(0, self.runs_kept)

    @observe("runs_file")
    def _runs_file_changed(self, change: Any = None) -> None:
        if not use_runs_file(self.session.history, self.runs_file):
            self.runs_file = change["old"] if change is not None else ""

    @observe("cache", "cache_path", "cache_pace")
    def _cache_changed(self, change: Any = None) -> None:
        cache = self.session.cache
        cache.mode, cache.pace = self.cache.lower(), self.cache_pace
        if cache.mode != "off":
            cache.path = self._cache_file()

    def _cache_file(self) -> Path:
        if self.cache_path:
            return cache_file(self.cache_path)
        base = Path(self.cache_dir) if self.cache_dir else default_cache_dir()
        return cache_file(writable_cache_dir(base))

    def _pre_run_cell(self, info: Any) -> None:
        self._cell_id = getattr(info, "cell_id", None)

    def _post_run_cell(self, result: Any) -> None:
        finish_ended()  # views whose calls ended draw their final frame before the cell goes idle
        store = self.session.history.store
        note = store.note() if store is not None else None
        if note:
            print(f"baml_magic: {note}", file=sys.stderr)
        if isinstance(result.error_in_exec, KeyboardInterrupt):
            self.session.cancel_foreground()
        else:
            self.session.foreground.clear()

    def close(self) -> None:
        """Unregister hooks and take back every name this extension bound (unless overwritten)."""
        if self.shell is not None:
            for event, callback in (("pre_run_cell", self._pre_run_cell), ("post_run_cell", self._post_run_cell)):
                if callback in self.shell.events.callbacks[event]:
                    self.shell.events.unregister(event, callback)
        self.binder.unbind(list(self.bound))

    # -- the magic ---------------------------------------------------------------

    @magic_arguments()
    @argument("command", nargs="?", default="help", help=f"{' | '.join([*COMMANDS, 'help'])} (none for a cell)")
    @argument("args", nargs=argparse.REMAINDER, help="the command's own arguments (see: %%baml help COMMAND)")
    @line_cell_magic
    @documented
    def baml(self, line: str, cell: str | None = None) -> Any:
        if cell is not None:
            return self._run_cell(cell, self._cell_engine(line))
        try:
            line = without_comment(line)  # `%baml test  # every test`, as the docs write it
            # Quotes are the shell's, as other magics read them: `--path "a b/q#x"` is one word, unquoted.
            options = self.baml.parser.parse_args(shlex.split(line))
        except ValueError as exc:  # shlex: "No closing quotation"
            raise UsageError(f"%baml {line.strip()}: {exc}") from None
        if options.command == "help":
            topic = options.args[0] if options.args else None
            try:
                print(help_text(topic))
            except KeyError:
                raise UsageError(f"no %baml command {topic!r}; commands: {', '.join(COMMANDS)}") from None
            return None
        command = COMMANDS.get(options.command)
        if command is None:
            raise UsageError(f"unknown %baml command {options.command!r}; try one of: "
                             f"{', '.join(COMMANDS)}, help")
        return HANDLERS[options.command](self, command.parser.parse_args(options.args))

    def _cell_engine(self, line: str) -> str:
        """The engine a ``%%baml`` line asks for (``--engine v1``), else the ``engine`` traitlet's."""
        words = line.replace("=", " ").split()
        if not words:
            return str(self.engine).lower()
        if len(words) == 2 and words[0] == "--engine" and words[1].lower() in kinds.NAMES:
            return words[1].lower()
        raise UsageError(f"%%baml takes only --engine {'|'.join(kinds.NAMES)} (got {line.strip()!r}); "
                         "the BAML goes in the cell")

    def project_for(self, engine: str | None) -> Project:
        """The session's sources of one engine kind (``None``: the ``engine`` traitlet's)."""
        return self.session.project_of((engine or self.engine).lower())

    def _run_cell(self, cell: str, engine: str | None = None) -> None:
        count = running_cell_number(self.shell)
        # Without a frontend cell id (a terminal), every run is a cell of its own; names still override.
        self._cell_runs += 1
        ident = self._cell_id or f"run{self._cell_runs}"
        source = cell_source(ident, f"cell In[{count}]", cell)
        key = source.key
        compiled = self.project_for(engine).update([source])
        names = [n for n, spec in compiled.functions.items() if spec.source_key == key]
        taken = self._bind(compiled)
        note = "" if names else "no functions in this cell; the project compiled"
        shown = [n for n in names if n not in taken]
        display(Bound([python_signature(compiled.functions[n]) for n in shown[:Bound.LIMIT + 1]],
                      bound_note(note, taken, *notes_of(compiled, [source.label])), total=len(shown)))

    def _load(self, options: argparse.Namespace) -> None:
        try:
            directory, new, compiled, here = load_folder(self.project_for(options.engine), options.targets)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
        root = str(directory.resolve())
        was_bound = set(self.bound)
        taken = self._bind(compiled)
        names = [n for n, spec in compiled.functions.items()
                 if spec.source_key.startswith(root + "/") and n in compiled.bindable and n not in taken]
        dropped = sorted(n for n in here & was_bound if n not in self.bound)
        note = f"loaded {len(new)} file{'s' if len(new) != 1 else ''} from {directory}"
        if dropped:
            note += f"; no longer bound (not named): {', '.join(dropped)}"
        display(Bound([python_signature(compiled.functions[n]) for n in names[:Bound.LIMIT + 1]],
                      bound_note(note, taken, *notes_of(compiled, [s.label for s in new])), total=len(names)))

    def _bind(self, compiled: Compiled) -> list[str]:
        """Bind a compile's functions; an interrupt while binding is one line (run the cell again to finish)."""
        try:
            return self.binder.bind_all(compiled)
        except KeyboardInterrupt:
            raise interrupted("binding the functions", "the project compiled; run the cell again to bind them") \
                from None

    def _list(self, options: argparse.Namespace) -> Table:
        return render.bound_table({n: fn.spec for n, fn in self.bound.items()}, self.session.client_override)

    def _compiled(self) -> Compiled:
        """The project the commands work on: the default engine's, else the other's (only v1 cells run)."""
        for project in (self.project_for(None), *self.session.projects.values()):
            if project.compiled is not None:
                return project.compiled
        raise UsageError("no BAML yet: write a %%baml cell or %baml load a folder")

    def _client(self, options: argparse.Namespace) -> str:
        if options.reset and options.name:
            raise UsageError("usage: %baml client [NAME | provider/model | --reset]")
        if options.reset:
            self.session.client_override = None
        elif options.name:
            self.session.client_override = clients.validate(options.name, self._compiled())
        if self.session.client_override:
            return f"every call uses client {self.session.client_override}"
        own = ", ".join(f"{n}: {fn.spec.client}" for n, fn in sorted(self.bound.items()))
        return f"each function uses its own client ({own or 'no functions bound'})"

    def _clients(self, options: argparse.Namespace) -> Table:
        return clients.table(self._compiled(), self.session.client_override)

    def _usage(self, options: argparse.Namespace) -> Table:
        rows = usage_rows(self.session.ledger, self.session.runs)
        notes = [*(f"~ estimated: {hint}" for hint in self.session.ledger.hints), *self.session.ledger.price_notes()]
        return Table(USAGE_HEADERS, rows, "baml-magic-usage", "no calls yet", notes)

    def _test(self, options: argparse.Namespace) -> Any:
        return baml_test_command(self, options)

    def _runs(self, options: argparse.Namespace) -> Any:
        return runs_command(self, options)

    def _diff(self, options: argparse.Namespace) -> Any:
        return diff_command(self, options)

    def _optimize(self, options: argparse.Namespace) -> Any:
        return optimize_command(self, options)

    def _open_playground(self, name: str) -> Playground:
        if name not in self.bound:
            raise BamlFunctionNotFound(f"no bound function {name}; bound: {', '.join(sorted(self.bound)) or 'none'}")
        return Playground(name, self.session, self.binder.get)

    def _playground(self, options: argparse.Namespace) -> Playground:
        return self._open_playground(options.function)

    def _cache(self, options: argparse.Namespace) -> Table | str:
        return cache_command(self, options)


# Each %baml command's handler, by the name the command table gives it (a rename is seen by mypy).
HANDLERS: dict[str, Callable[[BamlMagic, argparse.Namespace], Any]] = {
    "load": BamlMagic._load, "list": BamlMagic._list, "client": BamlMagic._client, "clients": BamlMagic._clients,
    "usage": BamlMagic._usage, "test": BamlMagic._test, "playground": BamlMagic._playground,
    "cache": BamlMagic._cache, "trace": BamlMagic._trace, "runs": BamlMagic._runs, "diff": BamlMagic._diff,
    "optimize": BamlMagic._optimize,
}
