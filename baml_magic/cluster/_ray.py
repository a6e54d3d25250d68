"""Ray, imported only when a map asks for it, and the cluster this process is connected to."""

from __future__ import annotations

import importlib
from typing import Any

from baml_magic._errors import RayMissing


def ray_module() -> Any:
    """The ``ray`` module (one line saying how to install it when it is missing)."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise RayMissing() from None


def connected() -> Any:
    """Ray, connected: to the cluster ``ray.init()`` already joined, else as ``ray.init()`` finds one
    (``RAY_ADDRESS``, a running local cluster, or a new one on this machine)."""
    ray = ray_module()
    if not ray.is_initialized():
        ray.init(logging_level="ERROR", log_to_driver=False)
    return ray


def alive_nodes(ray: Any) -> list[str]:
    """The ids of the cluster's nodes that are up."""
    return [node["NodeID"] for node in ray.nodes() if node.get("Alive")]


def node_id() -> str:
    """The id of the node this (worker) process runs on."""
    return str(ray_module().get_runtime_context().get_node_id())
