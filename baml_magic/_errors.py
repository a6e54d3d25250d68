"""Errors shown to notebook users as a short message, never a Python or Rust traceback."""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from baml_py.errors import BamlClientFinishReasonError, BamlValidationError

from baml_magic._redact import redact, strip_noise

P = ParamSpec("P")
R = TypeVar("R")


def clean_message(text: str) -> str:
    """A BAML runtime message without ANSI colours and its Rust backtrace (present whenever RUST_BACKTRACE is set)."""
    return strip_noise(text)


class BamlMagicError(Exception):
    """The base of every error baml_magic raises (baml-py's call errors keep their own types, re-exported)."""


class ShortError(BamlMagicError):
    """An error IPython shows as its message alone (IPython calls ``_render_traceback_``)."""

    def _render_traceback_(self) -> list[str]:
        return lines(type(self).__name__, str(self))


def lines(name: str, message: str) -> list[str]:
    """The one way an error is shown: ``Name: message`` (the name in red), secrets scrubbed as it is drawn."""
    return [f"{_red(name)}: {redact(message)}"]


def show_as(error: BaseException, name: str, message: str) -> BaseException:
    """Have IPython show an exception of any type (baml-py's, Python's) as ``lines(name, message)``."""
    with contextlib.suppress(AttributeError):
        error._render_traceback_ = lambda: lines(name, message)  # type: ignore[attr-defined]
    return error


def refused_setting(error: BaseException) -> None:
    """A ``%config`` value that can't be applied, said as IPython says a usage error: an observer can't raise
    (IPython would turn it into a logging line)."""
    print(f"UsageError: {redact(str(error))}", file=sys.stderr)


def _red(name: str) -> str:
    """An error's name in red, unless IPython was asked for no colours (``--colors=NoColor``)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    colors = str(getattr(shell, "colors", "")).lower()
    return name if colors == "nocolor" else f"\x1b[31m{name}\x1b[0m"


def one_line_as(error: BaseException, name: str, message: str) -> None:
    """Have IPython show an exception as one line of our own words."""
    show_as(error, name, message)


def one_line(error: BaseException) -> BaseException:
    """The same exception, shown by IPython as one line (its type and message), secrets scrubbed."""
    return show_as(error, type(error).__name__, str(error))


@dataclass(frozen=True)
class Diagnostic:
    """One compiler message, placed at its source: a cell or a file, and a line of it."""

    severity: str
    message: str
    where: str
    line: int
    source_line: str

    def __str__(self) -> str:
        text = f"{self.where}, line {self.line}: {self.message}"
        if self.source_line.strip():
            text += f"\n    {self.line} | {self.source_line.rstrip()}"
        return text


class BamlCompileError(ShortError):
    """The project did not compile; what was bound before stays bound."""

    def __init__(self, diagnostics: list[Diagnostic], fallback: str = "") -> None:
        self.diagnostics = diagnostics
        body = "\n".join(str(d) for d in diagnostics) if diagnostics else fallback
        count = len(diagnostics)
        head = f"BAML did not compile ({count} error{'s' if count != 1 else ''})" if count else "BAML did not compile"
        super().__init__(f"{head}\n{body}")


class BamlSourceError(ShortError):
    """A .baml file that can't be read (not UTF-8, unreadable)."""


class BamlFunctionNotFound(ShortError, KeyError):
    """A function name that the project does not define."""

    def __str__(self) -> str:
        return str(self.args[0])


class MissingEnvVarError(ShortError):
    """A client needs an environment variable that is not set."""

    def __init__(self, variable: str, client: str, *, url: bool = False) -> None:
        self.variable = variable
        self.client = client
        if url:  # a URL is no secret: say how to set it, and where the bundled offline model comes in
            advice = (f"it is where client {client}'s requests go: import os; os.environ[{variable!r}] = "
                      "'http://HOST:PORT/v1'" + ("; for the bundled offline model: from baml_magic import "
                                                 "local_llm; local_llm.use()" if variable == "LOCAL_LLM_BASE_URL"
                                                 else ""))
            super().__init__(f"environment variable {variable} is not set; {advice}")
            return
        super().__init__(
            f"environment variable {variable} is not set (client {client} needs it); "
            f"set it before Jupyter starts, or in a cell that echoes nothing: "
            f"import os, getpass; os.environ[{variable!r}] = getpass.getpass()"
        )


_DIAGNOSTIC = re.compile(
    r"^[ \t]*(error|warning): (?:Error validating: )?(.*?)\n\s*-->\s*(.+?):(\d+)", re.M | re.S
)


def parse_diagnostics(message: str) -> list[tuple[str, str, str, int]]:
    """(severity, message, file, line) for each diagnostic in a BAML compiler message."""
    return [
        (m.group(1), " ".join(m.group(2).split()), m.group(3), int(m.group(4)))
        for m in _DIAGNOSTIC.finditer(clean_message(message))
    ]


def argument_errors(method: Callable[P, R]) -> Callable[P, R]:
    """A public method whose TypeError / ValueError / LookupError (bad arguments of ours, raised before any work,
    such as a version that was never kept) IPython shows as one line, not a traceback."""
    @functools.wraps(method)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (TypeError, ValueError, LookupError) as exc:
            raise one_line(exc) from None

    return checked


def shown(error: BaseException) -> BaseException:
    """A call's error as IPython shows it: its short message (no traceback, no backtrace, secrets redacted)."""
    name, text = _short_parts(error)
    return show_as(error, name, text)


def interrupted(what: str, where: str) -> KeyboardInterrupt:
    """A KeyboardInterrupt that IPython shows as one line: what was cancelled and where its result is."""
    error = KeyboardInterrupt(f"{what} cancelled; {where}")
    show_as(error, "KeyboardInterrupt", str(error))
    return error


def short_error(exc: BaseException) -> str:
    """A BAML exception as a short message: its type and its own message, no backtrace."""
    return "{}: {}".format(*_short_parts(exc))


def _short_parts(exc: BaseException) -> tuple[str, str]:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    message = clean_message(str(message))
    lines = [line for line in message.splitlines() if line.strip()]
    text = "\n".join(lines[:6]) + ("\n…" if len(lines) > 6 else "")
    status = getattr(exc, "status_code", None)
    # BAML gives transport failures small codes of its own (2: a malformed or broken stream), and a 503 to a
    # connection no server answered: neither is an HTTP status.
    http = isinstance(status, int) and 100 <= status <= 599 and not hasattr(exc, "http_answered")  # else: said
    return type(exc).__name__ + (f" (HTTP {status})" if http else ""), text


def outcome(value: Any, error: BaseException | None) -> Any:
    """A call's value, or its error raised so that IPython shows its short message (secrets redacted)."""
    if error is None:
        return value
    raise shown(error)


class RequestBuildError(ShortError):
    """BAML could not build the request (for example a template error)."""


def duration(seconds: float) -> str:
    """A wait as people read it: ``45 s``, ``12 min``, ``3.5 h``, ``4 days``, ``more than a year``."""
    if not seconds < 365 * 86400:  # also inf and nan
        return "more than a year"
    for unit, size, limit in (("s", 1, 120), ("min", 60, 7200), ("h", 3600, 172800)):
        if seconds < limit:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds / 86400:.3g} days"


class RetryWaitTooLong(ShortError):
    """A 429 answer asked to wait longer than ``max_retry_wait``: the item fails instead of waiting."""

    def __init__(self, function: str, wait: float, limit: float, error: BaseException | None) -> None:
        self.wait, self.limit, self.error = wait, limit, error
        cause = short_error(error) if error else "HTTP 429"
        super().__init__(f"{function}: the provider asked to wait {duration(wait)} before a retry (Retry-After), "
                         f"more than max_retry_wait={limit:g} s; not retried ({cause})")


class RayMissing(ShortError, ImportError):
    """``engine="ray"`` without Ray installed."""

    def __init__(self) -> None:
        super().__init__("engine='ray' needs Ray, which is not installed here: pip install 'baml_magic[ray]'")


class RemoteCallError(ShortError):
    """A call that failed in a cluster's worker: the worker's error as one line (``kind``: its class there)."""

    def __init__(self, kind: str, message: str, status_code: int | None = None) -> None:
        self.kind, self.status_code = kind, status_code
        super().__init__(message)

    def __reduce__(self) -> tuple[type[RemoteCallError], tuple[str, str, int | None]]:
        return RemoteCallError, (self.kind, str(self), self.status_code)

    def _render_traceback_(self) -> list[str]:
        return lines(self.kind, str(self))


class IncompleteAnswerError(BamlMagicError, BamlClientFinishReasonError):
    """An answer that is not whole (cut at the token limit, filtered, refused) although BAML's lenient parser made
    a value of it, as the openai SDK's ``LengthFinishReasonError`` (and BAML's own finish-reason error, whose
    class this is): ``value`` holds what parsed, ``raw_output`` the text, ``finish_reason`` the provider's
    word; ``with_options(allow_incomplete=True)`` accepts such answers."""

    def __init__(self, function: str, reason: str, value: Any, raw: str, finish: str | None) -> None:
        self.value, self.reason = value, reason
        advice = "raise the client's max_tokens or ask for less; " if "token limit" in reason else ""
        super().__init__("", f"{function}: the answer was {reason}; {advice}what parsed is on the error's .value "
                             f"and in {function}.last.partial (with_options(allow_incomplete=True) accepts it)",
                         raw, finish, "")

    def __str__(self) -> str:
        return str(self.message)

    def _render_traceback_(self) -> list[str]:
        return lines(type(self).__name__, str(self.message))


class ChecksFailed(BamlMagicError, BamlValidationError):
    """A call made with ``stop_when="checks"`` ended where a ``@check`` failed on a field the model had finished
    (BAML's own check result, read from the partial); ``value`` holds the partial, also in ``Fn.last.partial``."""

    def __init__(self, failed: str, value: Any, function: str = "") -> None:
        self.failed, self.value = failed, value
        named = f"{function}: {failed}" if function else failed
        super().__init__("", f"{named}; stopped there by stop_when='checks' (the partial is on .value)", "", "")

    def __str__(self) -> str:
        return str(self.message)

    def _render_traceback_(self) -> list[str]:
        return lines(type(self).__name__, str(self.message))


class RegressionError(ShortError):
    """``%baml test --fail-on-regression``: a test that passed on the version compared against fails now
    (``cells`` holds each such cell of the diff), so a notebook run headless fails."""

    def __init__(self, message: str, cells: list[Any]) -> None:
        self.cells = cells
        super().__init__(message)
