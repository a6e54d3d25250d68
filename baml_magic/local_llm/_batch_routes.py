"""The offline model's batch routes: files, OpenAI batches and Anthropic message batches, with error bodies
in each API's own shape."""

from __future__ import annotations

import email.parser
import email.policy
import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from baml_magic.local_llm._batches import Batches, anthropic_error, openai_error


def _multipart_file(content_type: str, raw: bytes) -> tuple[str, bytes] | None:
    """The ``file`` part of a multipart/form-data body: its file name and content."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return (str(part.get_filename() or "input.jsonl"), payload) if isinstance(payload, bytes) else None
    return None


class BatchRoutes(BaseHTTPRequestHandler):
    """The batch API routes of the offline model's request handler."""

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raise NotImplementedError

    @property
    def batches(self) -> Batches:
        raise NotImplementedError

    def _not_found(self, what: str) -> None:
        if "/messages/" in self.path:
            self._send_json(404, anthropic_error("not_found_error", f"{what} not found"))
        else:
            self._send_json(404, openai_error("not_found", f"No such {what}", "invalid_request_error"))

    def _batch_get(self, route: str) -> bool:
        """GET routes of the batch APIs; False when the route is not one of them."""
        batches = self.batches
        parts = route.strip("/").split("/")
        if route.endswith(("/v1/files", "/v1/batches", "/v1/messages/batches")):
            self._send_json(200, batches.listing("/messages/" in route, parts[-1]))
            return True
        if route.endswith("/content") and "/files/" in route:
            content = batches.content(parts[-2])
            if content is None:
                self._not_found(f"file {parts[-2]}")
            else:
                self._send_bytes(content, "application/jsonl")
            return True
        if "/files/" in route:
            found = batches.files.get(parts[-1])
            self._not_found(f"file {parts[-1]}") if found is None else self._send_json(200, found[0])
            return True
        if "/batches/" in route:
            anthropic = "/messages/batches/" in route
            batch = batches.batches.get(parts[-2] if route.endswith("/results") else parts[-1])
            if batch is None or batch.anthropic != anthropic:
                self._not_found("batch")
            elif route.endswith("/results"):
                if batch.ended:
                    self._send_bytes(batches.anthropic_results(batch), "application/binary")
                else:
                    self._send_json(400, anthropic_error("invalid_request_error", "results are not ready yet"))
            else:
                self._send_json(200, batch.anthropic_view() if anthropic else batch.openai())
            return True
        return False

    def _batch_post(self, route: str, raw: bytes) -> bool:
        """POST routes of the batch APIs; False when the route is not one of them."""
        batches = self.batches
        address: Any = self.server.server_address
        base = f"http://{address[0]}:{address[1]}"
        if route.endswith("/files"):
            upload = _multipart_file(str(self.headers.get("Content-Type", "")), raw)
            if upload is None:
                self._send_json(400, openai_error("invalid_file", "a multipart form with a file part is needed"))
            else:
                self._send_json(200, batches.add_file(upload[1], upload[0]))
            return True
        if route.endswith("/cancel") and "/batches/" in route:
            batch = batches.cancel(route.strip("/").split("/")[-2])
            if batch is None or batch.anthropic != ("/messages/" in route):
                self._not_found("batch")
            else:
                self._send_json(200, batch.anthropic_view() if batch.anthropic else batch.openai())
            return True
        if route.endswith("/messages/batches"):
            request = json.loads(raw or b"{}")
            requests = [(str(r["custom_id"]), r["params"]) for r in request.get("requests", [])]
            self._send_json(200, batches.create(requests, True, base=base).anthropic_view())
            return True
        if route.endswith("/batches"):
            created = batches.create_openai(json.loads(raw or b"{}"), base)
            if created is None:
                self._send_json(400, openai_error("invalid_request", "no such input_file_id"))
            else:
                self._send_json(200, created.openai())
            return True
        return False

    def _send_bytes(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
