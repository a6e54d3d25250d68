"""What a ``%baml`` command's handler uses of the magic that runs it: a protocol, so each handler lives
beside its feature and none imports the magic (the magic imports the command table)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from IPython.core.error import UsageError

from baml_magic.engine import Compiled, Project

if TYPE_CHECKING:
    from baml_magic.notebook._binding import Binder
    from baml_magic.notebook._function import BamlFunction
    from baml_magic.notebook._session import Session


class Host(Protocol):
    """``BamlMagic`` as its commands see it: the session, the bound functions, the settings they read or set."""

    session: Session
    binder: Binder
    bound: dict[str, BamlFunction]
    cache: str
    cache_path: str
    cache_pace: bool
    cache_dir: str
    runs_file: str
    trace: bool
    display: str

    def project_for(self, engine: str | None) -> Project: ...


def any_compiled(host: Host) -> Compiled:
    """The project the commands work on: the default engine's, else the other's (only v1 cells run)."""
    for project in (host.project_for(None), *host.session.projects.values()):
        if project.compiled is not None:
            return project.compiled
    raise UsageError("no BAML yet: write a %%baml cell or %baml load a folder")
