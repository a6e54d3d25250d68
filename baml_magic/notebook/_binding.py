"""Binding BAML functions as names in the user's namespace, and taking them back."""

from __future__ import annotations

from typing import Any

from baml_magic._errors import interrupted
from baml_magic.engine import Compiled
from baml_magic.notebook._function import BamlFunction
from baml_magic.notebook._session import Session


class Binder:
    """The functions bound now, by name; rebinding after each compile, unbinding on unload."""

    def __init__(self, shell: Any, session: Session) -> None:
        self.shell = shell
        self.session = session
        self.bound: dict[str, BamlFunction] = {}

    def get(self, name: str) -> BamlFunction | None:
        return self.bound.get(name)

    def bind(self, compiled: Compiled) -> list[str]:
        """``bind_all``, and an interrupt while binding is one line (run the cell again to finish)."""
        try:
            return self.bind_all(compiled)
        except KeyboardInterrupt:
            raise interrupted("binding the functions", "the project compiled; run the cell again to bind them") \
                from None

    def bind_all(self, compiled: Compiled) -> list[str]:
        """Bind every bindable function (new objects, so edits take effect) and drop the vanished.

        A name the user has given to something else (not a BAML function) is left alone: those
        names are returned, so the caller can say which functions were not bound, and why.
        """
        namespace = self.shell.user_ns if self.shell is not None else {}
        taken = sorted(name for name in compiled.bindable
                       if name in namespace and namespace[name] is not self.bound.get(name)
                       and not isinstance(namespace[name], BamlFunction))
        fresh = {name: BamlFunction(compiled.functions[name], compiled, self.session)
                 for name in compiled.bindable if name not in taken}
        self.unbind([name for name, fn in self.bound.items()
                     if name not in fresh and fn.compiled.engine_name == compiled.engine_name])
        if self.shell is not None:
            self.shell.push(fresh, interactive=True)
        self.bound.update(fresh)
        return taken

    def unbind(self, names: list[str]) -> None:
        """Take names back from the namespace, unless the user has rebound them to something else."""
        namespace = self.shell.user_ns if self.shell is not None else {}
        for name in names:
            if namespace.get(name) is self.bound.get(name):
                namespace.pop(name, None)
            self.bound.pop(name, None)


def bound_note(note: str, taken: list[str], *others: str) -> str:
    """What a cell or a load bound says under its signatures, with the names a variable of the user's kept."""
    kept = (f"not bound: {', '.join(taken)} (a variable of yours has that name; rename it or `del` it, then run "
            "this again)") if taken else ""
    return "; ".join(n for n in (note, kept, *others) if n)


def notes_of(compiled: Compiled, labels: list[str]) -> list[str]:
    """The compile's notes about these sources (what was just run or loaded), each once."""
    return [n for n in dict.fromkeys(compiled.notes) if any(n.startswith(label + ":") for label in labels)]
