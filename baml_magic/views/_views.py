"""Live views of a running call: an ipywidgets view in Jupyter, incremental text in a terminal.

Every view ends as a plain output (text/plain and text/html), so a notebook executed headless and saved,
or opened where widgets don't render, still shows the result."""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
from typing import Any, Protocol

from IPython.display import DisplayHandle, display

from baml_magic import _render as render
from baml_magic._redact import redact
from baml_magic.calls import Run, media_html, media_in, preview
from baml_magic.views._status import status_html, status_text


class View(Protocol):
    def update(self, run: Run) -> None: ...
    def finish(self, run: Run) -> None: ...


LIVE_TAIL = 2000  # characters of a long string a live frame shows, about a screen (the final frame shows it whole)
TEXT_TAIL = 20_000  # ... and the final frame's plain text (its HTML shows it whole; the value has it all)


def reasoning_html(run: Run, *, live: bool = False) -> str:
    """The model's thinking above the fields: open while it thinks, folded once the answer starts ("" when it
    sent none)."""
    thought = run.reasoning
    if not thought:
        return ""
    shown = thought[-LIVE_TAIL:] if live else thought
    first = f" · first thought {run.time_to_first_thought:.2f} s" if run.time_to_first_thought is not None else ""
    return (f'<details class="baml-magic-reasoning"{" open" if run.partial is None else ""}>'
            f"<summary>thinking · {len(thought.split())} words{first}</summary>"
            f'<pre style="white-space:pre-wrap;opacity:.75;margin:.2em 0">{html.escape(redact(shown))}</pre></details>')


def body_html(run: Run, *, live: bool = False) -> str:
    """The thinking and the fields so far (``live``: while the call runs, a long text's tail), secrets scrubbed."""
    fields = redact(render.to_html(run.partial, tail=LIVE_TAIL if live else None))
    return f'<div class="baml-magic-body">{reasoning_html(run, live=live)}{fields}</div>'


def inputs_html(run: Run) -> str:
    """The media a call was given, as small previews ("" when it was given none)."""
    media = media_in(run.args)
    if not media:
        return ""
    return f'<div class="baml-magic-inputs">{"".join(media_html(preview(m)) for m in media)}</div>'


def view_html(run: Run, inputs: str, *, live: bool = False) -> str:
    """The whole view as HTML: status line, media previews, fields (``live``: while the call runs)."""
    return (f'<div class="baml-magic-view{" baml-magic-live" if live else ""}" data-status="{run.status}">'
            f"{status_html(run)}{inputs}{body_html(run, live=live)}</div>")


def static_bundle(run: Run, inputs: str | None = None) -> dict[str, str]:
    """The view as plain output: what a saved or headless notebook shows (with previews of media inputs)."""
    text = status_text(run)
    if run.error is not None and run.status == "error":
        text += "\n" + (run.error_message or "")
    if run.reasoning:
        thought = " ".join(run.reasoning.split())
        text += "\n(thinking) " + redact(thought if len(thought) <= 300 else thought[:299] + "…")
    if run.partial is not None:
        text += "\n" + redact(render.to_text(run.partial, tail=TEXT_TAIL))
    return {"text/plain": text, "text/html": view_html(run, inputs_html(run) if inputs is None else inputs)}


def close_widgets(*widgets: Any) -> None:
    """Close widgets and the Layout and Style models each one opened with it (``close()`` leaves those)."""
    for widget in widgets:
        if widget is None:
            continue
        for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
            if part is not None and hasattr(part, "close"):
                part.close()
        widget.close()


class LiveFields:
    """The status line and field view of a call as two ipywidgets HTML widgets (views and playground)."""

    def __init__(self, run: Run | None = None) -> None:
        import ipywidgets as widgets

        self.status = widgets.HTML(status_html(run) if run else "")
        self.body = widgets.HTML(body_html(run, live=True) if run else "")
        self.status.add_class("baml-magic-status-widget")
        self.body.add_class("baml-magic-body-widget")

    def update(self, run: Run) -> None:
        self.status.value = status_html(run)
        body = body_html(run, live=not run.done)
        if body != self.body.value:
            self.body.value = body

    def close(self) -> None:
        close_widgets(self.status, self.body)


class WidgetView:
    """An ipywidgets view (status line, fields, and a Stop button for background runs).

    At the end it is replaced by a static output, so saved notebooks show the result.
    """

    def __init__(self, run: Run, stop: Callable[[], None] | None = None) -> None:
        import ipywidgets as widgets

        self.fields = LiveFields(run)
        self.inputs = inputs_html(run)
        self.media = widgets.HTML(self.inputs) if self.inputs else None
        children: list[Any] = [self.fields.status, *([self.media] if self.media else []), self.fields.body]
        self.stop_button = None
        if stop is not None:
            self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="warning")
            self.stop_button.add_class("baml-magic-stop")
            self.stop_button.on_click(lambda _: stop())
            children.append(self.stop_button)
        self.box = widgets.VBox(children)
        self.box.add_class("baml-magic-view")
        self.box.add_class("baml-magic-live")
        bundle: dict[str, Any] = dict(static_bundle(run, self.inputs))
        bundle.update(self.box._repr_mimebundle_() or {})
        self.handle: DisplayHandle = display(bundle, raw=True, display_id=True)

    def update(self, run: Run) -> None:
        self.fields.update(run)

    def finish(self, run: Run) -> None:
        self.update(run)
        self.handle.update(static_bundle(run, self.inputs), raw=True)
        close_widgets(self.stop_button, self.media, self.box)
        self.fields.close()


class OutputView:
    """A foreground call's live view as one output updated in place (``update_display_data``).

    No widget models to open and close for each call: frontends apply display updates while the
    cell runs, and the last update is the static output a saved notebook keeps.
    """

    def __init__(self, run: Run) -> None:
        self.inputs = inputs_html(run)
        self.shown = self._frame(run)
        self.handle: DisplayHandle = display(self.shown, raw=True, display_id=True)

    def _frame(self, run: Run) -> dict[str, str]:
        # While the call runs: the status line as text (the whole text is rendered once, at the end).
        return {"text/plain": status_text(run), "text/html": view_html(run, self.inputs, live=True)}

    def update(self, run: Run) -> None:
        frame = self._frame(run)
        if frame != self.shown:
            self.shown = frame
            self.handle.update(frame, raw=True)

    def finish(self, run: Run) -> None:
        self.handle.update(static_bundle(run, self.inputs), raw=True)


class TextView:
    """Prints the stream as it grows (IPython in a terminal, or display="text")."""

    def __init__(self, run: Run, stream: Any = None) -> None:
        self.out = stream or sys.stdout
        self.printed = ""
        self.thought = 0  # characters of the thinking printed
        self.out.write(f"{run.function} …\n")
        self.out.flush()

    def update(self, run: Run) -> None:
        thought = run.reasoning or ""
        if run.partial is None and len(thought) > self.thought:  # the thinking, as it comes, before the answer
            self.out.write(("(thinking) " if not self.thought else "") + redact(thought[self.thought:]))
            self.thought = len(thought)
            self.out.flush()
        if run.partial is None:
            return
        if self.thought and not self.printed:
            self.out.write("\n")
        text = redact(render.to_text(run.partial, growing=True))
        if text == self.printed:
            return
        if text.startswith(self.printed):
            self.out.write(text[len(self.printed):])
        else:
            self.out.write(("\n" if self.printed else "") + text)
        self.printed = text
        self.out.flush()

    def finish(self, run: Run) -> None:
        self.update(run)
        line = status_text(run)
        if run.error is not None and run.status == "error":
            line += "\n" + (run.error_message or "")
        self.out.write(("\n" if self.printed else "") + f"[{line}]\n")
        self.out.flush()


class NullView:
    def update(self, run: Run) -> None:
        pass

    def finish(self, run: Run) -> None:
        pass


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a frontend that can show widgets), False in a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "ZMQ" in type(shell).__name__


def wants_widgets(mode: str) -> bool:
    """Whether a display mode means ipywidgets here: "widget", or "auto" inside a Jupyter kernel."""
    return mode == "widget" or (mode == "auto" and in_kernel())


def _stopper(run: Run) -> Callable[[], None]:
    def stop() -> None:
        run.cancel()
        run.settle()
    return stop


def make_view(mode: str, run: Run, *, background: bool = False) -> View:
    """The view for a display mode: auto | widget | text | none.

    In Jupyter, "auto" shows a foreground call as one output updated in place (no widget models:
    it has no Stop button, since a click waits for the cell to end) and a background run as
    ipywidgets with a Stop button; "widget" uses ipywidgets for both. A background run gets no
    text view (printing from a thread would garble a terminal's prompt): its handle is there to query.
    """
    if mode == "none":
        return NullView()
    if background:
        return WidgetView(run, stop=_stopper(run)) if wants_widgets(mode) else NullView()
    if mode == "widget":
        return WidgetView(run)
    return OutputView(run) if wants_widgets(mode) else TextView(run)


class StatusLine:
    """One line of progress: updated in place in a notebook, printed as it changes in a terminal."""

    def __init__(self, text: str, mode: str = "auto") -> None:
        self.live = wants_widgets(mode)
        self.quiet = mode == "none"
        self.text = ""
        self.handle: DisplayHandle | None = None
        self.update(text)

    def _bundle(self, text: str) -> dict[str, str]:
        escaped = html.escape(text)
        return {"text/plain": text,
                "text/html": f'<div class="baml-magic-progress" style="font-family:monospace">{escaped}</div>'}

    def update(self, text: str) -> None:
        if text == self.text or self.quiet:
            return
        self.text = text
        if not self.live:
            print(text, flush=True)
        elif self.handle is None:
            self.handle = display(self._bundle(text), raw=True, display_id=True)
        else:
            self.handle.update(self._bundle(text), raw=True)


class ProgressView:
    """A progress bar (ipywidgets) in a notebook, a status line in a terminal; static text at the end."""

    def __init__(self, summary: str, total: int | None, mode: str) -> None:
        self.widget: Any = None
        self.line: StatusLine | None = None
        if wants_widgets(mode):
            import ipywidgets as widgets

            self.bar = widgets.IntProgress(value=0, min=0, max=max(1, total or 1))
            self.label = widgets.HTML(html.escape(summary))
            self.widget = widgets.HBox([self.bar, self.label])
            self.widget.add_class("baml-magic-map-progress")
            bundle = {"text/plain": summary, **(self.widget._repr_mimebundle_() or {})}
            self.handle: DisplayHandle = display(bundle, raw=True, display_id=True)
        else:
            self.line = StatusLine(summary, "text" if mode != "none" else "none")

    def update(self, summary: str, finished: int, total: int) -> None:
        if self.line is not None:
            self.line.update(summary)
            return
        self.bar.max = max(1, total)
        self.bar.value = finished
        self.label.value = html.escape(summary)

    def finish(self, summary: str, finished: int, total: int, final: dict[str, str]) -> None:
        """The last numbers, then (in a notebook) the static ``final`` bundle in place of the widgets."""
        self.update(summary, finished, total)
        if self.widget is not None:
            self.handle.update(final, raw=True)
            close_widgets(self.widget, self.bar, self.label)
