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
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from traitlets import TraitError, observe, validate

from baml_magic._errors import refused_setting
from baml_magic._render import BoundList
from baml_magic.calls import Limits as media_limits
from baml_magic.calls import python_signature
from baml_magic.engine import Project, kinds
from baml_magic.notebook._binding import Binder, bound_note, notes_of
from baml_magic.notebook._cache_command import cache_file_of
from baml_magic.notebook._cell_number import running_cell_number
from baml_magic.notebook._commands import COMMANDS, documented, help_text, without_comment
from baml_magic.notebook._magic_options import MagicOptions
from baml_magic.notebook._optimize_command import optimize
from baml_magic.notebook._playground_command import open_playground
from baml_magic.notebook._rebind import restore
from baml_magic.notebook._runs_command import use_runs_file
from baml_magic.notebook._session import Session
from baml_magic.observe import TracingUnavailable, checked_prices
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
        self.session.open_playground = lambda name, stop_when: open_playground(self, name, stop_when)
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
            refused_setting(exc)

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
            cache.path = cache_file_of(self)

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
        return command.run(self, options.args)

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
        taken = self.binder.bind(compiled)
        note = "" if names else "no functions in this cell; the project compiled"
        shown = [n for n in names if n not in taken]
        display(BoundList([python_signature(compiled.functions[n]) for n in shown[:BoundList.LIMIT + 1]],
                      bound_note(note, taken, *notes_of(compiled, [source.label])), total=len(shown)))
