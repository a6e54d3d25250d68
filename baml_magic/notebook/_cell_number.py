"""The number the notebook shows for the running cell (``In [N]``), on every IPython the project supports."""

from __future__ import annotations

import sys
from typing import Any


def running_cell_number(shell: Any) -> int:
    """The running cell's number, as its traceback would name it.

    IPython 9 counts a cell before running it, IPython 8 after, so ``shell.execution_count`` is one too high on
    one of them. The compiled cell's own filename maps to its number (IPython's tracebacks read the same map):
    the nearest frame of such a file is the cell that called us. Without one (a magic called directly), the
    count the shell reports.
    """
    numbers: dict[str, int] = getattr(getattr(shell, "compile", None), "_filename_map", None) or {}
    frame = sys._getframe(1)
    while frame is not None and numbers:
        number = numbers.get(frame.f_code.co_filename)
        if number is not None:
            return int(number)
        frame = frame.f_back  # type: ignore[assignment]
    return int(getattr(shell, "execution_count", 0) or 0)
