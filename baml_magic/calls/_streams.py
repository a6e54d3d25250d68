"""The stream iterators: typed partials of one call, sync and async; leaving early aborts the request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from baml_magic._errors import interrupted, outcome
from baml_magic._types import Status
from baml_magic.calls._run import Run

_UNSET = object()


class PartialStream(Iterator[Any]):
    """Typed partials of one call, each new one once; ``.final`` at the end."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._seen = -1
        self._last: Any = _UNSET

    def __iter__(self) -> PartialStream:
        return self

    def __next__(self) -> Any:
        try:
            while True:
                self._seen = self.run.wait_news(self._seen)
                if self.run.partial is not None and self.run.partial is not self._last:
                    self._last = self.run.partial
                    return self._last
                if self.run.done:
                    if self.run.status is Status.ERROR:
                        outcome(None, self.run.error)
                    raise StopIteration
        except KeyboardInterrupt:
            self.close()
            raise interrupted(f"{self.run.function} stream", self.run.kept_note()) \
                from None

    @property
    def final(self) -> Any:
        """The final typed value (waits for the end of the call; raises its error)."""
        self.run.wait()
        return outcome(self.run.value, self.run.error)

    def close(self) -> None:
        """Abort the request if it is still running; the partial stays in ``Fn.last``."""
        if not self.run.done:
            self.run.cancel()
            self.run.settle()

    def __enter__(self) -> PartialStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A `break` drops the loop's iterator: abort, and record it before the next line reads Fn.last.
        self.close()


class AsyncPartialStream(AsyncIterator[Any]):
    """The async twin of PartialStream."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._news = run.async_news()
        self._last: Any = _UNSET

    def __aiter__(self) -> AsyncPartialStream:
        return self

    async def __anext__(self) -> Any:
        try:
            async for _ in self._news:
                if self.run.partial is not None and self.run.partial is not self._last:
                    self._last = self.run.partial
                    return self._last
            if self.run.status is Status.ERROR:
                outcome(None, self.run.error)
            raise StopAsyncIteration
        except BaseException as exc:
            if not isinstance(exc, StopAsyncIteration):
                await self.aclose()
            raise

    @property
    def final(self) -> Any:
        """The typed value once the stream has ended (None before)."""
        self.run.wait()
        return outcome(self.run.value, self.run.error)

    async def aclose(self) -> None:
        """Stop the stream: the request is closed at once and the partial kept in ``Fn.last``."""
        if not self.run.done:
            self.run.cancel()
            self.run.settle()
        await self._news.aclose()  # type: ignore[attr-defined]  # an async generator

    async def __aenter__(self) -> AsyncPartialStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not self.run.done:
            self.run.cancel()
