"""``%%baml`` and ``%baml``: compile BAML from cells and folders, bind functions, inspect them.

Configuration lives in traitlets on ``BamlMagic`` (``%config BamlMagic.refresh_hz = 20``).
"""

from __future__ import annotations

import html
import re
import shlex
from pathlib import Path
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display
from traitlets import CaselessStrEnum, Float, Unicode

from baml_magic import baml_tests, clients, usage
from baml_magic.display import StatusLine
from baml_magic.errors import BamlFunctionNotFound, ShortError
from baml_magic.function import BamlFunction, python_signature, short_type
from baml_magic.project import Compiled, Source, folder_sources
from baml_magic.session import Session

SUBCOMMANDS = ("load", "list", "client", "clients", "usage", "test", "playground", "help")


class UsageError(ShortError):
    """A %baml command that could not be understood."""


class Table:
    """Rows shown as an HTML table in a notebook and as aligned text in a terminal."""

    def __init__(self, headers: list[str], rows: list[list[str]], css: str, empty: str = "(none)") -> None:
        self.headers, self.rows, self.css, self.empty = headers, rows, css, empty

    def __repr__(self) -> str:
        if not self.rows:
            return self.empty
        widths = [max(len(str(r[i])) for r in [self.headers, *self.rows]) for i in range(len(self.headers))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in [self.headers, *self.rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<em>{html.escape(self.empty)}</em>"
        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'><code>{html.escape(str(c))}</code></td>" for c in row)
            + "</tr>" for row in self.rows
        )
        return f"<table class='{self.css}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Bound:
    """What a %%baml cell or %baml load bound: one Python signature a line."""

    LIMIT = 12

    def __init__(self, signatures: list[str], note: str) -> None:
        extra = len(signatures) - self.LIMIT
        if extra > 1:
            signatures = [*signatures[:self.LIMIT], f"… and {extra} more (see %baml list)"]
        self.signatures, self.note = signatures, note

    def __repr__(self) -> str:
        return "\n".join([*self.signatures, self.note] if self.note else self.signatures)

    def _repr_html_(self) -> str:
        lines = "".join(f"<div><code>{html.escape(s)}</code></div>" for s in self.signatures)
        note = f"<div style='opacity:.7'>{html.escape(self.note)}</div>" if self.note else ""
        return f"<div class='baml-magic-bound'>{lines}{note}</div>"


@magics_class
class BamlMagic(Magics):
    """Write BAML in ``%%baml`` cells or load a ``baml_src`` folder; call its functions from Python."""

    refresh_hz = Float(20.0, help="How many times a second a live view redraws while a call streams.").tag(
        config=True)
    display = CaselessStrEnum(
        ["auto", "widget", "text", "none"], default_value="auto",
        help="How calls show their stream: auto (widget in Jupyter, text in a terminal), widget, text or none.",
    ).tag(config=True)
    cache_dir = Unicode("", help="Where BAML's generator writes (default: $BAML_MAGIC_CACHE or "
                                 "~/.cache/baml_magic).").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self.session = Session.create(self, Path(self.cache_dir) if self.cache_dir else None)
        self.bound: dict[str, BamlFunction] = self.session.bound
        self._cell_id: str | None = None
        self._runs = 0
        if shell is not None:
            shell.events.register("pre_run_cell", self._pre_run_cell)
            shell.events.register("post_run_cell", self._post_run_cell)

    # -- cell tracking -----------------------------------------------------------

    def _pre_run_cell(self, info: Any) -> None:
        self._cell_id = getattr(info, "cell_id", None)

    def _post_run_cell(self, result: Any) -> None:
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
            self._unbind(list(self.bound))

    # -- the magic ---------------------------------------------------------------

    @line_cell_magic
    def baml(self, line: str, cell: str | None = None) -> Any:
        """%%baml: compile this cell's BAML with the project and bind its functions.

        %baml load [DIR] [FUNCTION ...]  add a baml_src folder (default baml_src)
        %baml list                        bound functions: parameters, return type, client, where
        %baml client [NAME | --reset]     show or set the client every call uses (NAME or provider/model)
        %baml clients                     the project's clients
        %baml usage                       this session's calls per function: tokens, latency, first token
        %baml test [FUNCTION ...]         run the project's BAML test blocks
        %baml playground FUNCTION         the playground widget (same as FUNCTION.playground())
        """
        if cell is not None:
            return self._run_cell(cell)
        words = shlex.split(line)
        if not words or words[0] == "help":
            print(self.baml.__doc__)
            return None
        command, args = words[0], words[1:]
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise UsageError(f"unknown %baml command {command!r}; try one of: {', '.join(SUBCOMMANDS)}")
        return handler(args)

    def _run_cell(self, cell: str) -> None:
        count = getattr(self.shell, "execution_count", 0)
        # Without a frontend cell id (a terminal), every run is a cell of its own; names still override.
        self._runs += 1
        ident = self._cell_id or f"run{self._runs}"
        key = f"cell:{ident}"
        slug = re.sub(r"[^A-Za-z0-9_-]", "_", ident)
        # A leading newline stands for the %%baml line, so BAML's line numbers match the editor's.
        source = Source(key, f"cell In[{count}]", f"cells/cell_{slug}.baml", "\n" + cell)
        compiled = self.session.project.update([source])
        names = [n for n, spec in compiled.functions.items() if spec.source_key == key]
        self._bind_all(compiled)
        note = "" if names else "no functions in this cell; the project compiled"
        display(Bound([python_signature(compiled.functions[n]) for n in names], note))

    def _cmd_load(self, args: list[str]) -> None:
        directory = Path("baml_src")
        if args and Path(args[0]).is_dir():
            directory, args = Path(args[0]), args[1:]
        elif args and not args[0].isidentifier():
            raise UsageError(f"no BAML folder at {args[0]}")
        try:
            new = folder_sources(directory, frozenset(args) if args else None)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
        root = str(directory.resolve())
        stale = tuple(k for k in self.session.project.sources if k.startswith(root + "/"))
        project = self.session.project
        before = project.sources, project.compiled
        compiled = project.update(new, drop=stale)
        here = {n for n, spec in compiled.functions.items() if spec.source_key.startswith(root + "/")}
        unknown = [a for a in args if a not in here]
        if unknown:
            project.sources, project.compiled = before  # nothing changes on a bad name
            raise BamlFunctionNotFound(
                f"{directory} has no function {', '.join(unknown)}; it defines: {', '.join(sorted(here))}")
        self._bind_all(compiled)
        names = [n for n, spec in compiled.functions.items()
                 if spec.source_key.startswith(root + "/") and n in compiled.bindable]
        display(Bound([python_signature(compiled.functions[n]) for n in names],
                      f"loaded {len(new)} file{'s' if len(new) != 1 else ''} from {directory}"))

    def _cmd_list(self, args: list[str]) -> Table:
        rows = []
        for name, fn in sorted(self.bound.items()):
            spec = fn.spec
            params = ", ".join(f"{p}: {short_type(a)}" for p, a in spec.params)
            client = self.session.client_override or spec.client or ""
            rows.append([name, params, short_type(spec.returns), client, spec.where])
        return Table(["function", "parameters", "returns", "client", "defined in"], rows, "baml-magic-list",
                     "no BAML functions bound yet: write a %%baml cell or %baml load a folder")

    def _compiled(self) -> Compiled:
        compiled = self.session.project.compiled
        if compiled is None:
            raise UsageError("no BAML yet: write a %%baml cell or %baml load a folder")
        return compiled

    def _cmd_client(self, args: list[str]) -> str:
        if args == ["--reset"]:
            self.session.client_override = None
        elif len(args) == 1:
            self.session.client_override = clients.validate(args[0], self._compiled().clients)
        elif args:
            raise UsageError("usage: %baml client [NAME | provider/model | --reset]")
        if self.session.client_override:
            return f"every call uses client {self.session.client_override}"
        own = ", ".join(f"{n}: {fn.spec.client}" for n, fn in sorted(self.bound.items()))
        return f"each function uses its own client ({own or 'no functions bound'})"

    def _cmd_clients(self, args: list[str]) -> Table:
        compiled = self._compiled()
        rows = []
        for name, block in sorted(compiled.clients.items()):
            provider, model = clients.describe(block)
            in_force = "every call" if name == self.session.client_override else ""
            rows.append([name, provider, model, ", ".join(clients.required_env(name, compiled.clients)), in_force])
        return Table(["client", "provider", "model", "reads", "in force for"], rows, "baml-magic-clients",
                     "no clients in the project")

    def _cmd_usage(self, args: list[str]) -> Table:
        return Table(usage.HEADERS, usage.rows(self.session.runs), "baml-magic-usage", "no calls yet")

    def _cmd_test(self, args: list[str]) -> Table:
        compiled = self._compiled()
        unknown = [a for a in args if a not in compiled.functions]
        if unknown:
            raise BamlFunctionNotFound(f"no function {', '.join(unknown)}; the project defines: "
                                       f"{', '.join(sorted(compiled.functions))}")
        line = StatusLine("running BAML tests…", self.display)
        results = baml_tests.run(compiled.files, args, self.session.client_override,
                                 lambda n, _: line.update(f"running BAML tests… {n} call{'s' if n != 1 else ''} done"),
                                 compiled.origins)
        passed = sum(r.passed for r in results)
        line.update(f"{len(results)} test{'s' if len(results) != 1 else ''}: {passed} passed, "
                    f"{len(results) - passed} failed")
        rows = [[r.test, r.function, "pass" if r.passed else r.status.lower(), r.reason, f"{r.duration:.2f} s"]
                for r in results]
        return Table(["test", "function", "result", "reason", "duration"], rows, "baml-magic-tests",
                     "no BAML test blocks")

    def _cmd_playground(self, args: list[str]) -> Any:
        from baml_magic.playground import Playground

        if len(args) != 1:
            raise UsageError("usage: %baml playground FUNCTION")
        if args[0] not in self.bound:
            raise BamlFunctionNotFound(f"no bound function {args[0]}; bound: {', '.join(sorted(self.bound)) or 'none'}")
        return Playground(args[0], self.session)

    # -- binding -----------------------------------------------------------------

    def _bind_all(self, compiled: Compiled) -> None:
        """Bind every bindable function (new objects, so edits take effect) and drop the vanished."""
        fresh = {name: BamlFunction(compiled.functions[name], compiled, self.session)
                 for name in compiled.bindable}
        gone = [name for name in self.bound if name not in fresh]
        self._unbind(gone)
        if self.shell is not None:
            self.shell.push(fresh, interactive=True)
        self.bound.update(fresh)

    def _unbind(self, names: list[str]) -> None:
        if self.shell is None:
            return
        ns = self.shell.user_ns
        for name in names:
            if ns.get(name) is self.bound.get(name):
                ns.pop(name, None)
            self.bound.pop(name, None)
