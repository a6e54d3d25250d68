"""One call of a function: its run, its driver, its stream, its request, its arguments and its cache."""

from __future__ import annotations

from baml_magic.calls._cache import MODES, CacheMiss, ResponseCache, cache_file, cache_table, request_key
from baml_magic.calls._checks import (
    checked_count,
    checked_folder,
    checked_names,
    checked_rate,
    checked_timeout,
    checked_version,
    checked_wait,
)
from baml_magic.calls._drive import begin as begin_run
from baml_magic.calls._drive import can_run_here, run_here
from baml_magic.calls._env import check_env, is_shorthand, required_env
from baml_magic.calls._env import environ as call_environment
from baml_magic.calls._env import placeholders as env_placeholders
from baml_magic.calls._media import (
    MEDIA_TYPES,
    Limits,
    MediaError,
    describe,
    has_media,
    media_in,
    preview,
    summary,
    to_media,
)
from baml_magic.calls._options import CallOptions
from baml_magic.calls._request_view import PromptView, RequestView, media_html
from baml_magic.calls._requests import build as build_request
from baml_magic.calls._run import ASYNC_POLL_SECONDS, POLL_SECONDS, Run
from baml_magic.calls._samples import sample_args, sample_value
from baml_magic.calls._signature import Arguments, docstring, python_signature
from baml_magic.calls._stop_checks import stops_on_checks
from baml_magic.calls._streams import AsyncPartialStream, PartialStream

__all__ = ["ASYNC_POLL_SECONDS", "MEDIA_TYPES", "MODES", "POLL_SECONDS", "Arguments", "AsyncPartialStream",
           "CacheMiss", "CallOptions", "Limits", "MediaError", "PartialStream", "PromptView", "RequestView",
           "ResponseCache", "Run", "begin_run", "build_request", "cache_file", "cache_table", "call_environment",
           "can_run_here", "check_env", "checked_count", "checked_folder", "checked_names", "checked_rate",
           "checked_timeout", "checked_version", "checked_wait", "describe", "docstring", "env_placeholders",
           "has_media", "is_shorthand", "media_html", "media_in", "preview", "python_signature", "request_key",
           "required_env", "run_here", "sample_args", "sample_value", "stops_on_checks", "summary", "to_media"]
