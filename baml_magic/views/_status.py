"""A call's status line: its state (how a stopped call stopped), time, first token, tokens out, cost."""

from __future__ import annotations

import html

from baml_magic import _render as render
from baml_magic.calls import Run

STATUS_COLORS = {"pending": "#777", "streaming": "#1565c0", "done": "#2e7d32", "cancelled": "#ef6c00",
                 "error": "#c62828", "stopped": "#6d4c41"}


def status_text(run: Run) -> str:
    """``GenerateStory · streaming · 1.24 s · first token 0.20 s · 69 tokens out``."""
    parts = [run.function, _status_words(run), *(["cached"] if run.cached is not None else []),
             *([run.incomplete] if run.incomplete else []), f"{run.elapsed:.2f} s"]
    if run.time_to_first_thought is not None:
        parts.append(f"first thought {run.time_to_first_thought:.2f} s")
    if run.time_to_first_token is not None:
        parts.append(f"first token {run.time_to_first_token:.2f} s")
    if run.done:
        usage = run.usage
        if usage.output_tokens is not None and run.status != "stopped":  # a stopped call says them already
            mark, note = ("~", " (estimated)") if usage.estimated else ("", "")
            thinking = f", {usage.reasoning_tokens} thinking" if usage.reasoning_tokens else ""
            parts.append(f"{mark}{usage.output_tokens} token{'s' if usage.output_tokens != 1 else ''} out{note}"
                         f"{thinking}")
        if run.cost:
            parts.append(render.money(run.cost))
    return " · ".join(parts)


def _status_words(run: Run) -> str:
    """The status, and for a call its stop_when ended: ``stopped early by stop_when after 12 tokens``."""
    if run.status != "stopped":
        return str(run.status)
    out = run.usage.output_tokens
    return "stopped early by stop_when" + (f" after {out} token{'s' if out != 1 else ''}" if out is not None else "")


def status_html(run: Run) -> str:
    color = STATUS_COLORS.get(run.status, "#777")
    text = html.escape(status_text(run))
    error = ""
    if run.error is not None and run.status == "error":
        error = (f'<pre class="baml-magic-error" style="color:{color};white-space:pre-wrap;margin:.3em 0">'
                 f"{html.escape(run.error_message or '')}</pre>")
    return (f'<div class="baml-magic-status baml-status-{run.status}" data-status="{run.status}" '
            f'style="font-family:monospace;font-size:90%;color:{color}">{text}</div>{error}')
