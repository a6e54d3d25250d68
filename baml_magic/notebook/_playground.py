"""The playground: an ipywidgets UI to try a BAML function with inputs, clients, and a history of runs.

Run starts a background call (so Stop can be clicked while it streams); the tabs show the
rendered prompt, the request as curl (secrets redacted), the raw response and the usage.
Each Run looks the function up again, so a re-run ``%%baml`` cell takes effect at once, or
the playground says it is stale when the parameters changed.
"""

from __future__ import annotations

import base64
import enum
import html
import json
import typing
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from baml_magic import _render as render
from baml_magic._errors import ShortError
from baml_magic._render import short_type
from baml_magic._types import Status
from baml_magic.calls import (
    MEDIA_TYPES,
    CallOptions,
    Run,
    describe,
    has_media,
    media_html,
    preview,
    stops_on_checks,
    summary,
    to_media,
)
from baml_magic.notebook._bound import Bound
from baml_magic.notebook._session import Session
from baml_magic.views import Live, LiveFields

TABS = ("Prompt", "Request", "Raw response", "Usage")


def _optional_inner(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007
    return annotation, False


class Field:
    """One input: a widget chosen by the parameter's type, and how to read a value out of it."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.name = name
        inner, self.optional = _optional_inner(annotation)
        self.kind = "json"
        if inner is str:
            self.kind = "str"
            self.widget: Any = widgets.Textarea(description=name, placeholder="empty = None" if self.optional else "")
        elif self.optional:
            self.widget = widgets.Text(description=name, placeholder=f"{short_type(inner)} as JSON; empty = None")
        elif inner is bool:
            self.kind = "plain"
            self.widget = widgets.Checkbox(description=name, value=False)
        elif inner is int:
            self.kind = "plain"
            self.widget = widgets.IntText(description=name)
        elif inner is float:
            self.kind = "plain"
            self.widget = widgets.FloatText(description=name)
        elif isinstance(inner, type) and issubclass(inner, enum.Enum):
            self.kind = "plain"
            self.widget = widgets.Dropdown(description=name, options=[m.value for m in inner])
        else:
            hint = "; media as a path, URL or data URL" if has_media(inner) else ""
            self.widget = widgets.Textarea(description=name, placeholder=f"{short_type(inner)} as JSON{hint}")
        self.widget.add_class("baml-magic-field")
        self.widget.add_class(f"baml-magic-field-{name}")

    def read(self) -> Any:
        value = self.widget.value
        if self.kind == "plain":
            return value
        if self.optional and value.strip() == "":
            return None
        if value.strip() == "":
            raise ValueError(f"{self.name} is empty: type its value first")
        if self.kind == "str":
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
                from None


_ACCEPT = {"image": "image/*", "audio": "audio/*", "pdf": ".pdf,application/pdf", "video": "video/*"}


class MediaField:
    """A media input: a file picker, a URL field, and a preview of what will be sent (the last one chosen)."""

    def __init__(self, name: str, kind: type, optional: bool) -> None:
        self.name, self.kind, self.optional = name, kind, optional
        label = MEDIA_TYPES[kind]
        self.upload = widgets.FileUpload(accept=_ACCEPT[label], multiple=False, description=f"{name}: {label}")
        self.url = widgets.Text(placeholder=f"or a URL{'; empty = None' if optional else ''}")
        self.preview = widgets.HTML("")
        self.preview.add_class("baml-magic-preview")
        self.widget = widgets.VBox([widgets.HBox([self.upload, self.url]), self.preview])
        self.widget.add_class("baml-magic-field")
        self.widget.add_class(f"baml-magic-field-{name}")
        self.latest = "url"
        self.upload.observe(lambda _: self._chose("file"), "value")
        self.url.observe(lambda _: self._chose("url"), "value")

    def _chose(self, source: str) -> None:
        self.latest = source
        try:
            value = self.read()
        except (ValueError, TypeError) as exc:
            self.preview.value = f'<span style="color:#c62828">{html.escape(str(exc))}</span>'
            return
        self.preview.value = "" if value is None else media_html(preview(describe(value)))

    def read(self) -> Any:
        url = self.url.value.strip()
        if self.upload.value and (self.latest == "file" or not url):
            upload = self.upload.value[-1]
            data = bytes(upload["content"])
            if upload.get("type"):
                data_url = f"data:{upload['type']};base64,{base64.b64encode(data).decode()}"
                return to_media(self.kind, data_url, self.name)
            return to_media(self.kind, data, self.name)
        if url:
            return to_media(self.kind, url, self.name)
        if self.optional:
            return None
        raise ValueError(f"{self.name}: choose a file or give a URL")


def field_for(name: str, annotation: Any) -> Field | MediaField:
    """The input for a parameter: a media picker for image/audio/pdf/video, a typed field otherwise."""
    inner, optional = _optional_inner(annotation)
    if inner in MEDIA_TYPES:
        return MediaField(name, inner, optional)
    return Field(name, annotation)


def _pre(text: str) -> str:
    """Text as written, wrapped at spaces (a long word only where nothing else fits), never mid-key."""
    return (f'<pre style="white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;margin:0">'
            f'{html.escape(text)}</pre>')


def _inputs_text(inputs: dict[str, Any]) -> str:
    """A run's inputs for the history: a line per parameter, each value shortened."""
    return "\n".join(f"{name}: {render.short(value, 120)}" for name, value in summary(inputs).items())


class Playground:
    """``Fn.playground()`` / ``%baml playground Fn``."""

    def __init__(self, name: str, session: Session, lookup: Callable[[str], Bound | None], *,
                 stop_when: Any = None) -> None:
        self.name = name
        self.stop_when = CallOptions(stop_when=stop_when).stop_when  # checked now: a bad one is one line
        self.session = session
        self.lookup = lookup  # the function as bound now
        fn = lookup(name)
        if fn is None:
            raise KeyError(name)
        self.spec = fn.spec
        self.fields = [field_for(p, a) for p, a in fn.spec.params]
        compiled = fn.compiled
        options: list[str | None] = list(sorted(compiled.clients))
        if fn.spec.client and fn.spec.client not in options:
            options.append(fn.spec.client)
        self.client = widgets.Dropdown(description="client", options=options,
                                       value=fn.client_in_force or (options or [None])[0])
        self.client.add_class("baml-magic-client")
        self.run_button = widgets.Button(description="Run", icon="play", button_style="primary")
        self.run_button.add_class("baml-magic-run")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="warning", disabled=True)
        self.stop_button.add_class("baml-magic-stop")
        self.stop_on_checks = widgets.Checkbox(description="stop when a @check fails", indent=False,
                                               value=stops_on_checks(self.stop_when))
        self.stop_on_checks.add_class("baml-magic-stop-on-checks")
        self.message = widgets.HTML("")
        self.message.add_class("baml-magic-message")
        self.live = LiveFields()
        self.panes = {title: widgets.HTML("") for title in TABS}
        self.tabs = widgets.Tab(children=list(self.panes.values()))
        for i, title in enumerate(TABS):
            self.tabs.set_title(i, title)
        self.history_view = widgets.HTML("")
        self.history_view.add_class("baml-magic-history")
        self.history: list[dict[str, Any]] = []
        self.run: Run | None = None
        self._live: Live | None = None
        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        title = widgets.HTML(f"<b>{html.escape(name)}</b> <code>{html.escape(fn.spec.baml_signature)}</code>")
        self.root = widgets.VBox([
            title, *[f.widget for f in self.fields], self.client,
            widgets.HBox([self.run_button, self.stop_button, self.stop_on_checks]), self.message,
            self.live.status, self.live.body, self.tabs, self.history_view,
        ])
        self.root.add_class("baml-magic-playground")

    # -- display -------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(self.root._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = f"<Playground {self.name}>"
        # Where widgets don't render (a saved or exported notebook), say what this output is.
        bundle["text/html"] = (f'<div class="baml-magic-playground-static"><b>Playground</b> for '
                               f"<code>{html.escape(self.spec.baml_signature)}</code>: run this cell in Jupyter to "
                               "use it.</div>")
        return bundle

    def _say(self, text: str, error: bool = True) -> None:
        color = "#c62828" if error else "inherit"
        self.message.value = f'<div style="color:{color}">{html.escape(text)}</div>' if text else ""

    # -- running -------------------------------------------------------------------

    def _current(self) -> Bound | None:
        """The function as bound now; None (with a message) when it is gone or its parameters changed."""
        fn = self.lookup(self.name)
        if fn is None:
            self._say(f"stale: {self.name} is no longer defined; re-run its cell or open a new playground")
            return None
        if [(p, short_type(a)) for p, a in fn.spec.params] != [(p, short_type(a)) for p, a in self.spec.params]:
            self._say(f"stale: the parameters of {self.name} changed; open a new playground "
                      f"(%baml playground {self.name})")
            return None
        return fn

    def start(self) -> Run | None:
        """What the Run button does: check inputs, fill Prompt and Request, start a background call."""
        if self.run is not None and not self.run.done:
            self._say("a run is in progress; Stop it first")
            return None
        fn = self._current()
        if fn is None:
            return None
        try:
            kwargs = {f.name: f.read() for f in self.fields}
            if self.client.value and self.client.value != fn.spec.client:
                fn = fn.with_options(client=self.client.value)
            own = None if stops_on_checks(self.stop_when) else self.stop_when  # the box says whether "checks"
            stop = "checks" if self.stop_on_checks.value else own
            if stop is not None:
                fn = fn.with_options(stop_when=stop)
            prompt = fn.prompt(**kwargs)
            request = fn.request(**kwargs)
            run = fn._open_run((), kwargs, foreground=False)
        except (ValueError, TypeError, ShortError) as exc:
            self._say(str(exc))
            return None
        self._say("")
        self.panes["Prompt"].value = prompt._repr_html_()
        self.panes["Request"].value = _pre(request.as_curl())
        self.panes["Raw response"].value = ""
        self.panes["Usage"].value = ""
        self.run = run
        self.run_button.disabled, self.stop_button.disabled = True, False
        self._live = Live(lambda: self.live.update(run), final=lambda: self._ended(run, kwargs),
                          finished=lambda: run.done, refresh_hz=self.session.settings.refresh_hz,
                          news=run.version, name="playground").start()
        return run

    def _ended(self, run: Run, kwargs: dict[str, Any]) -> None:
        self.live.update(run)
        self.panes["Raw response"].value = _pre(run.raw_response or "")
        usage, timing = run.usage, run.timing
        ttft = timing.time_to_first_token
        self.panes["Usage"].value = _pre(
            f"tokens in: {usage.input_tokens}\ntokens out: {usage.output_tokens}\n"
            f"time to first token: {'' if ttft is None else f'{ttft:.3f} s'}\n"
            f"duration: {timing.duration:.3f} s\nclient: {run.client_name}")
        self.history.append({"inputs": kwargs, "client": run.client, "status": str(run.status),
                             "output": run.value if run.status is Status.DONE else run.partial,
                             "error": run.error_message})
        self._draw_history()
        self.run_button.disabled, self.stop_button.disabled = False, True

    def stop(self) -> None:
        """What the Stop button does: abort the request in flight."""
        if self.run is not None and not self.run.done:
            self.run.cancel()
            self.run.settle()

    def wait(self, timeout: float = 30.0) -> None:
        """Wait until the last run has finished and the widget shows it (tests, scripts)."""
        if self._live is not None:
            self._live.join(timeout)

    def _draw_history(self) -> None:
        rows = "".join(
            f"<tr><td>{i}</td><td>{_pre(_inputs_text(h['inputs']))}</td>"
            f"<td>{html.escape(str(h['client']))}</td><td>{html.escape(h['status'])}</td>"
            f"<td>{_pre(render.to_text(h['output']) if h['output'] is not None else (h['error'] or ''))}</td></tr>"
            for i, h in enumerate(self.history, 1)
        )
        self.history_view.value = (
            "<table><thead><tr><th>#</th><th>inputs</th><th>client</th><th>status</th><th>output</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
