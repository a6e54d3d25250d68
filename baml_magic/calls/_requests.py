"""The HTTP request a call would send, built by the engine without sending it (prompt, request, batch, keys).

Media URLs are fetched while a request is built, which can wait on a server that never answers:
with media, the request is built on the worker with a deadline and an interrupt.
"""

from __future__ import annotations

import os
from typing import Any

from baml_py.errors import BamlError

from baml_magic._errors import RequestBuildError, clean_message
from baml_magic._redact import redact
from baml_magic.calls import _env as environment
from baml_magic.engine import Compiled, wait_for

REQUEST_BUILD_SECONDS = 30.0  # the longest a request may take to build (media URLs are fetched then)


def build(compiled: Compiled, function: str, values: dict[str, Any], *, client: str | None, tb: Any, stream: bool,
          sending: bool, fetches_media: bool) -> Any:
    """``sending``: with the real keys (else placeholders stand in for unset ones); a one-line error otherwise."""
    env = dict(os.environ) if sending else {**environment.placeholders(compiled.clients), **os.environ}
    engine = compiled.engine
    try:
        if not fetches_media:
            return engine.build_request(function, values, client=client, tb=tb, env=env, stream=stream)
        return wait_for(lambda: engine.build_request_async(function, values, client=client, tb=tb, env=env,
                                                           stream=stream),
                        REQUEST_BUILD_SECONDS, f"building {function}'s request (fetching its media)")
    except BamlError as exc:
        raise RequestBuildError(redact(clean_message(str(exc)))) from None
