"""Many inputs: maps within rate limits, provider batch APIs, results as rows."""

from __future__ import annotations

from baml_magic.many._batch import POLL_SECONDS, BatchJob
from baml_magic.many._batch_wire import BatchError, BatchItemError, Progress, Wire, submit
from baml_magic.many._export import plain, to_pandas
from baml_magic.many._map import MapResult, as_call, checked_map, first_failure, map_progress, run_map
from baml_magic.many._ratelimit import Pace, Start
from baml_magic.many._remote import RemoteRun
from baml_magic.many._retries import Retries, rate_limited

__all__ = ["POLL_SECONDS", "BatchError", "BatchItemError", "BatchJob", "MapResult", "Pace", "Progress", "RemoteRun",
           "Retries", "Start", "Wire", "as_call", "checked_map", "first_failure", "map_progress", "plain",
           "rate_limited", "run_map", "submit", "to_pandas"]
