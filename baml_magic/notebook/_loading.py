"""``%baml load``: a baml_src folder joins the project; naming functions binds only those."""

from __future__ import annotations

from pathlib import Path

from baml_magic._errors import BamlFunctionNotFound
from baml_magic.engine import Compiled, Project
from baml_magic.sources import Source, folder_sources

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
