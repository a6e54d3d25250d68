"""The optimizer's live view: each candidate as it is scored, the frontier as it moves, the budget spent.

A widget in a notebook (redrawn by the live driver from the run's artifacts), a line per candidate in a
terminal; at the end it becomes the result's one-line summary (the result itself shows the table and a diff).
"""

from __future__ import annotations

import html
from typing import Any

from baml_magic.optimize._result import OptimizeResult
from baml_magic.views import Live, StatusLine, close_widgets, wants_widgets


class OptimizeView:
    """Shows an ``OptimizeResult`` while the optimizer fills its folder."""

    def __init__(self, result: OptimizeResult, display_mode: str) -> None:
        from IPython.display import display

        self.result = result
        self.widget: Any = None
        self.line: StatusLine | None = None
        self._printed = 0
        if wants_widgets(display_mode):
            import ipywidgets as widgets

            self.widget = widgets.HTML(result._repr_html_())
            self.widget.add_class("baml-magic-optimize-live")
            self.handle = display({"text/plain": result.line(), **(self.widget._repr_mimebundle_() or {})},
                                  raw=True, display_id=True)
        elif display_mode != "none":
            self.line = StatusLine(result.line(), "text")

    def draw(self) -> None:
        self.result.refresh()
        if self.widget is not None:
            self.widget.value = self.result._repr_html_()
        elif self.line is not None:
            for candidate in self.result.candidates[self._printed:]:
                rate = "" if candidate.pass_rate is None else f"{candidate.pass_rate:.0%}"
                print(f"  candidate #{candidate.id} ({candidate.method}): accuracy {rate}", flush=True)
            self._printed = len(self.result.candidates)
            self.line.update(self.result.line())

    def finish(self) -> None:
        self.draw()
        if self.widget is not None:
            text = html.escape(self.result.line())
            line = f'<div class="baml-magic-progress" style="font-family:monospace">{text}</div>'
            self.handle.update({"text/plain": self.result.line(), "text/html": line}, raw=True)
            close_widgets(self.widget)

    def live(self, finished: Any, refresh_hz: float) -> Live:
        return Live(self.draw, final=self.finish, finished=finished, refresh_hz=min(refresh_hz, 4.0),
                    name=f"optimize-{self.result.function}").start()
