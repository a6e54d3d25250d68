"""One pace for the whole cluster: every worker asks the same limiter (a Ray actor) before it sends, so the
map's ``rpm`` / ``tpm`` hold across all nodes, on one clock."""

from __future__ import annotations

from baml_magic.many import Pace, Start


class SharedPace:
    """A map's requests and tokens per rolling minute, granted one start at a time (run as a Ray actor)."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.pace = Pace(rpm, tpm)
        self.starts: dict[int, Start] = {}
        self.tickets = 0

    def take(self, tokens: int) -> tuple[float, int]:
        """(0, a ticket) when a call of ``tokens`` input tokens may start now, else (seconds to wait, -1)."""
        if self.pace.tpm is None:
            tokens = 0
        else:
            tokens += self.pace.expected_output()
        wait = self.pace.wait(tokens)
        if wait > 0:
            return wait, -1
        self.tickets += 1
        self.starts[self.tickets] = self.pace.started(tokens)
        return 0.0, self.tickets

    def ended(self, ticket: int, input_tokens: int | None, output_tokens: int | None) -> None:
        """The call of ``ticket`` reported its usage: the log now holds what it really used."""
        start = self.starts.pop(ticket, None)
        if start is not None:
            self.pace.ended(start, input_tokens, output_tokens)
