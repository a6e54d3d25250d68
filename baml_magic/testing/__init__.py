"""Drivers for tests and benchmarks: an in-process shell that raises, and a real kernel.

Needs the ``test`` extra (jupyter_client, ipykernel).
"""

from __future__ import annotations

import atexit
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

from baml_magic.calls import sample_args as sample_args
from baml_magic.calls import sample_value as sample_value

# A client on the bundled local model, and a class and function using it: the shared example project.
CLIENT = """
client<llm> Fast {
  provider "openai-generic"
  options {
    base_url env.LOCAL_LLM_BASE_URL
    model "local"
    stream_options {
      include_usage true  // token counts in a stream: OpenAI-compatible servers send them only when asked
    }
  }
}
"""

STORY = """
class Story {
  title string
  body string
}
function GenerateStory(prompt: string) -> Story {
  client Fast
  prompt #"Write a short story about {{ prompt }}. {{ ctx.output_format }}"#
}
"""


def wait_until(condition: Any, timeout: float = 10.0, what: str = "", *, every: float = 0.01) -> Any:
    """Wait for ``condition()`` to be true (checked ``every`` seconds), rather than for a guessed time; its value.

    Raises ``TimeoutError`` saying ``what`` was waited for: a slow machine waits longer, never fails sooner.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what or 'a condition'}")
        time.sleep(every)


class TestingShell(InteractiveShell):
    """An in-process IPython shell whose run_cell raises the cell's error instead of printing it."""

    def run_cell(self, raw_cell: str, *args: Any, **kwargs: Any) -> Any:
        result = super().run_cell(raw_cell, *args, **kwargs)  # type: ignore[no-untyped-call]
        result.raise_error()
        return result

    @classmethod
    def clear_instance(cls) -> None:
        """Forget the shell, and its exit hook: IPython runs a full reset and collection at exit for every shell
        it ever made (0.4 s each; a test suite that makes hundreds waited minutes to exit)."""
        if cls.initialized():
            atexit.unregister(cls.instance().atexit_operations)
        super().clear_instance()


@dataclass
class Execution:
    """What a kernel sent back for one execute request, each iopub message with when it arrived."""

    reply: dict[str, Any] | None = None
    reply_at: float | None = None
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    idle_at: float | None = None

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m["header"]["msg_type"] in types]

    @property
    def status(self) -> str | None:
        return self.reply["content"]["status"] if self.reply else None

    @property
    def printed(self) -> str:
        """What the cell printed (stdout), without displays: a live view may redraw after a print."""
        return "".join(m["content"]["text"] for m in self.of_type("stream") if m["content"].get("name") == "stdout")

    @property
    def text(self) -> str:
        """All stream text, results and errors, as one string."""
        parts = []
        for m in self.of_type("stream", "execute_result", "display_data", "update_display_data", "error"):
            content = m["content"]
            if "text" in content:
                parts.append(content["text"])
            elif "data" in content:
                parts.append(content["data"].get("text/plain", ""))
            elif "ename" in content:
                parts.append(f"{content['ename']}: {content['evalue']}")
        return "\n".join(parts)


class Kernel:
    """A real ipykernel driven through jupyter_client, as a frontend would."""

    def __init__(self, cwd: Path) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        env = {**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        self.manager.start_kernel(cwd=str(cwd), env=env, extra_arguments=["--HistoryManager.enabled=False"])
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def start(self, code: str) -> tuple[str, Execution]:
        return self.client.execute(code, allow_stdin=False), Execution()

    def collect(self, msg_id: str, execution: Execution, timeout: float = 60,
                until: Any = None) -> Execution:
        """Read iopub until the kernel is idle for this request (or ``until(execution)`` is true)."""
        deadline = time.monotonic() + timeout
        while execution.idle_at is None:
            if until is not None and until(execution):
                return execution
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"kernel not idle after {timeout} s; got {execution.text[-500:]!r}")
            try:
                msg = self.client.get_iopub_msg(timeout=min(left, 0.05))
            except Exception:  # noqa: BLE001 - queue.Empty: poll again
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            now = time.time()
            execution.messages.append((now, msg))
            if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                execution.idle_at = now
        reply = self.client.get_shell_msg(timeout=10)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=10)
        execution.reply = reply
        return execution

    def run(self, code: str, timeout: float = 60) -> Execution:
        msg_id, execution = self.start(code)
        return self.collect(msg_id, execution, timeout)

    def ok(self, code: str, timeout: float = 60) -> Execution:
        execution = self.run(code, timeout)
        assert execution.status == "ok", execution.text
        return execution

    def send_comm(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send a comm message as a frontend does (a widget's value change or a button click)."""
        self.client.shell_channel.send(self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

    def drain(self, seconds: float, until: Any = None) -> list[tuple[float, dict[str, Any]]]:
        """Every iopub message for ``seconds`` (or until ``until(messages)``), whatever it answers."""
        messages: list[tuple[float, dict[str, Any]]] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (until is not None and until(messages)):
            try:
                messages.append((time.time(), self.client.get_iopub_msg(timeout=0.05)))
            except Exception:  # noqa: BLE001 - queue.Empty: poll again
                continue
        return messages

    def interrupt(self) -> float:
        at = time.time()
        self.manager.interrupt_kernel()
        return at

    def shutdown(self) -> None:
        """Stop the kernel (once: a second call does nothing)."""
        if getattr(self, "_down", False):
            return
        self._down = True
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


# -- arguments for any BAML signature, to call every function of a project -------------------------

def conforms(value: Any, annotation: Any, namespace: Any = None) -> bool:
    """True when a returned value has the generated type (recursive aliases and Checked values included)."""
    import enum
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, str):
        annotation = typing.ForwardRef(annotation)
    if isinstance(annotation, typing.ForwardRef):
        annotation = getattr(namespace, annotation.__forward_arg__)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is Any:
        return True
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation in (str, int, bool):
        return type(value) is annotation
    if origin is typing.Literal:
        return value in args
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return any(conforms(value, a, namespace) for a in args)
    if origin is list:
        return isinstance(value, list) and all(conforms(v, args[0], namespace) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            conforms(k, args[0], namespace) and conforms(v, args[1], namespace) for k, v in value.items())
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return isinstance(value, annotation) or value in {m.value for m in annotation}  # map keys stay str
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return isinstance(value, annotation)
    if origin is not None and isinstance(origin, type) and issubclass(origin, BaseModel):  # Checked[T, ...]
        return isinstance(value, BaseModel) and conforms(getattr(value, "value", None), args[0], namespace)
    return isinstance(value, annotation) if isinstance(annotation, type) else False
