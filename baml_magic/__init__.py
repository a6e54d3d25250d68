"""baml_magic: BAML functions in IPython and Jupyter, typed, streaming and cancellable.

``%load_ext baml_magic`` registers ``%%baml`` / ``%baml`` and the ``BamlMagic`` configuration.
"""

from __future__ import annotations

from typing import Any

from baml_magic.function import BamlFunction
from baml_magic.magics import BamlMagic
from baml_magic.run import Run

__all__ = ["BamlFunction", "BamlMagic", "Run", "load_ipython_extension", "unload_ipython_extension"]
__version__ = "0.1.0"

_magics: dict[int, BamlMagic] = {}


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics; keep BAML's own log lines out of the notebook unless BAML_LOG is set."""
    import os

    import baml_py

    if "BAML_LOG" not in os.environ:
        baml_py.baml_py.set_log_level("OFF")
    if id(ipython) in _magics:
        return
    magics = BamlMagic(ipython, parent=ipython)
    ipython.register_magics(magics)
    _magics[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """Take back the names this extension bound, unhook its events."""
    magics = _magics.pop(id(ipython), None)
    if magics is not None:
        magics.close()
        ipython.magics_manager.magics["line"].pop("baml", None)
        ipython.magics_manager.magics["cell"].pop("baml", None)
