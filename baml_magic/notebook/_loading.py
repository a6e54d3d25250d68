"""``%baml load``: a baml_src folder joins the project; naming functions binds only those."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from IPython.core.error import UsageError
from IPython.display import display

from baml_magic._errors import BamlFunctionNotFound
from baml_magic._render import BoundList
from baml_magic.calls import python_signature
from baml_magic.engine import Compiled, Project
from baml_magic.notebook._binding import bound_note, notes_of
from baml_magic.sources import Source, folder_sources

if TYPE_CHECKING:
    from baml_magic.notebook._host import Host

DEFAULT_FOLDER = Path("baml_src")


def load_folder(project: Project, arguments: list[str]) -> tuple[Path, list[Source], Compiled, set[str]]:
    """``[DIR] [FUNCTION ...]`` loaded into the project: the folder, its sources, the compile, its functions.

    A function name that the folder does not define changes nothing and says what it does define.
    """
    targets = [t.strip("'\"") for t in arguments]
    directory = DEFAULT_FOLDER
    if targets and (Path(targets[0]).is_dir() or not targets[0].isidentifier() or not directory.is_dir()):
        directory, targets = Path(targets[0]), targets[1:]
    new = folder_sources(directory, frozenset(targets) if targets else None)
    root = str(directory.resolve())
    stale = tuple(k for k in project.sources if k.startswith(root + "/"))
    before = project.sources, project.compiled
    compiled = project.update(new, drop=stale)
    here = {n for n, spec in compiled.functions.items() if spec.source_key.startswith(root + "/")}
    unknown = [a for a in targets if a not in here]
    if unknown:
        project.restore(*before)  # nothing changes on a bad name (the engine's runtime neither)
        raise BamlFunctionNotFound(
            f"{directory} has no function {', '.join(unknown)}; it defines: {', '.join(sorted(here))}")
    return directory, new, compiled, here


def load_command(host: Host, options: argparse.Namespace) -> None:
    """``%baml load``: the folder's functions bound, their signatures shown, the names no longer bound said."""
    try:
        directory, new, compiled, here = load_folder(host.project_for(options.engine), options.targets)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    root = str(directory.resolve())
    was_bound = set(host.bound)
    taken = host.binder.bind(compiled)
    names = [n for n, spec in compiled.functions.items()
             if spec.source_key.startswith(root + "/") and n in compiled.bindable and n not in taken]
    dropped = sorted(n for n in here & was_bound if n not in host.bound)
    note = f"loaded {len(new)} file{'s' if len(new) != 1 else ''} from {directory}"
    if dropped:
        note += f"; no longer bound (not named): {', '.join(dropped)}"
    display(BoundList([python_signature(compiled.functions[n]) for n in names[:BoundList.LIMIT + 1]],
                      bound_note(note, taken, *notes_of(compiled, [s.label for s in new])), total=len(names)))
