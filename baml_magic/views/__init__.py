"""What a call shows while it runs: the live view, its one refresh driver, a background run's handle."""

from __future__ import annotations

from baml_magic.views._background import Background
from baml_magic.views._live import Live, finish_ended
from baml_magic.views._status import status_text
from baml_magic.views._views import (
    LiveFields,
    NullView,
    ProgressView,
    StatusLine,
    View,
    close_widgets,
    make_view,
    wants_widgets,
)

__all__ = ["Background", "Live", "LiveFields", "NullView", "ProgressView", "StatusLine", "View", "close_widgets",
           "finish_ended", "make_view", "status_text", "wants_widgets"]
