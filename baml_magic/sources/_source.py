"""A project's sources: notebook cells and .baml files, and the text a compile sees of each.

A definition in a later source replaces one of the same name in an earlier source (the newest wins), so
an edited cell can be run again without "duplicate definition" errors: the earlier one is blanked out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from baml_magic._errors import BamlSourceError
from baml_magic.sources import _lexer as sources

SOURCE_ROOT = "baml_src"


@dataclass(frozen=True)
class Source:
    """One contributor to the project: a notebook cell or a .baml file."""

    key: str  # "cell:<id>" or the file's absolute path
    label: str  # how messages name it: "cell In[3]" or "baml_src/story.baml"
    filename: str  # its path inside the compiled project
    text: str
    selected: frozenset[str] | None = None  # functions to bind from it; None = all

    @property
    def is_cell(self) -> bool:
        return self.key.startswith("cell:")


def cell_source(ident: str, label: str, cell: str) -> Source:
    """A ``%%baml`` cell's body as a source; a leading newline stands for the ``%%baml`` line, so BAML's
    line numbers are the editor's."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", ident)
    return Source(f"cell:{ident}", label, f"cells/cell_{slug}.baml", "\n" + cell)


def effective_files(ordered: list[Source]) -> tuple[dict[str, str], dict[str, list[sources.Block]]]:
    """Each source's text with the definitions a later source replaces blanked out.

    A source the lexer can't split with certainty is kept whole: nothing in it is blanked.
    """
    blocks = {s.key: sources.split_blocks(s.text) for s in ordered}
    owner: dict[tuple[str, str], str] = {}
    for s in ordered:
        for block in blocks[s.key]:
            owner[block.key] = s.key
    files: dict[str, str] = {}
    live: dict[str, list[sources.Block]] = {}
    for s in ordered:
        dead = [b for b in blocks[s.key] if owner[b.key] != s.key or b.kind == "generator"]
        live[s.key] = [b for b in blocks[s.key] if b not in dead]
        files[s.filename] = sources.mask(s.text, dead)
    return files, live


def folder_sources(directory: Path, selected: frozenset[str] | None = None) -> list[Source]:
    """A Source for each .baml file under a folder (its generator blocks are ignored)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"no BAML folder at {directory}")
    files = sorted(directory.rglob("*.baml"))
    if not files:
        raise FileNotFoundError(f"no .baml files under {directory}")
    root = directory.resolve()
    out = []
    for path in files:
        relative = path.resolve().relative_to(root).as_posix()
        label = f"{directory.as_posix().rstrip('/')}/{relative}"
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise BamlSourceError(f"{label} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                                  f"{exc.start}): save it as UTF-8") from None
        except OSError as exc:
            raise BamlSourceError(f"{label} can't be read: {exc.strerror or exc}") from None
        out.append(Source(str(path.resolve()), label, f"folders/{_slug(str(root))}/{relative}", text, selected))
    return out


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_")[-60:] or "root"
