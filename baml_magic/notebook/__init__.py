"""The notebook surface: the magics, the bound functions and their commands, the session they share."""

from __future__ import annotations

from baml_magic.notebook._check import register as register_checks
from baml_magic.notebook._check import unregister as unregister_checks
from baml_magic.notebook._clients import UnknownClientError
from baml_magic.notebook._function import BamlFunction
from baml_magic.notebook._magics import BamlMagic
from baml_magic.notebook._playground import Playground

__all__ = ["BamlFunction", "BamlMagic", "Playground", "UnknownClientError", "register_checks", "unregister_checks"]
