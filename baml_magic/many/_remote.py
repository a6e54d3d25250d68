"""A call that ran in another process (a cluster's worker), as a map keeps it in its slot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baml_magic._types import Status, Usage


@dataclass
class RemoteRun:
    """What an ended ``Run`` says, brought back from the worker that made the call."""

    function: str
    args: dict[str, Any]
    status: Status
    value: Any = None
    error: BaseException | None = None
    usage: Usage = field(default_factory=Usage)
    elapsed: float = 0.0
    model: str | None = None
    saved: Usage = field(default_factory=Usage)  # what a cached answer did not cost again
    node: str = ""  # the cluster node that answered
    tries: int = 1  # how many workers it was sent to (more than one: a worker died with it)

    @property
    def done(self) -> bool:
        return True
