"""Maps on a Ray cluster: a bound function's calls in workers, paced cluster-wide, stoppable from the kernel."""

from __future__ import annotations

from baml_magic.cluster._caller import Caller, Row
from baml_magic.cluster._driver import ray_map
from baml_magic.cluster._limiter import SharedPace
from baml_magic.cluster._ray import connected, ray_module

__all__ = ["Caller", "Row", "SharedPace", "connected", "ray_map", "ray_module"]
