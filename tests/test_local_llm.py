"""The offline model server: schema-fitting answers, SSE and plain replies, faults, disconnect records."""

from __future__ import annotations

import http.client
import json
import socket
import time
from urllib.parse import urlparse

import pytest

from baml_magic import local_llm
from baml_magic.local_llm._answers import answer_for
from baml_magic.testing import wait_until


def test_answer_fits_nested_schema() -> None:
    prompt = (
        "List things. Answer with a JSON Array using this schema:\n[\n  {\n    // item name\n    name: string,\n"
        "    price: float,\n    ok: bool,\n    kind: 'HAPPY' or 'SAD',\n    tags: string[],\n"
        "    meta: map<string, int> or null,\n  }\n]"
    )
    value = json.loads(answer_for(prompt, words=5))
    assert isinstance(value, list) and len(value) == 3
    item = value[0]
    assert set(item) == {"name", "price", "ok", "kind", "tags", "meta"}
    assert isinstance(item["price"], float) and isinstance(item["ok"], bool)
    assert item["kind"] in ("HAPPY", "SAD")
    assert all(isinstance(t, str) for t in item["tags"])
    assert all(isinstance(v, int) for v in item["meta"].values())


def test_answer_for_enum_categories_and_plain_prose() -> None:
    prompt = "Classify it. Answer with any of the categories:\nMood\n----\n- HAPPY\n- SAD: when down"
    assert answer_for(prompt) in ("HAPPY", "SAD")
    prose = answer_for("Just say something about whales.", words=7)
    assert len(prose.split()) == 7 and not prose.startswith("{")


def _post(server: local_llm.LocalLLM, model: str, stream: bool, **extra: object) -> http.client.HTTPResponse:
    url = urlparse(server.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = json.dumps({"model": model, "stream": stream, **extra,
                       "messages": [{"role": "user", "content": "Hello. Answer in JSON using this schema:\n"
                                     "{\n  title: string,\n}"}]})
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    return conn.getresponse()


def test_stream_sends_sse_chunks_usage_and_done(llm: local_llm.LocalLLM) -> None:
    response = _post(llm, "local", stream=True, stream_options={"include_usage": True})
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    events = [line[6:] for line in response.read().decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert isinstance(json.loads(text)["title"], str)
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == len(chunks) - 2 and usage["prompt_tokens"] > 0
    # As the real API (openai.types.chat.ChatCompletionChunk.usage): no usage chunk unless asked for
    unasked = [line for line in _post(llm, "local", stream=True).read().decode().splitlines() if "usage" in line]
    assert unasked == []


def test_plain_reply_and_http_faults(llm: local_llm.LocalLLM) -> None:
    plain = _post(llm, "local", stream=False)
    payload = json.loads(plain.read())
    assert payload["choices"][0]["message"]["role"] == "assistant"
    assert payload["usage"]["completion_tokens"] > 0
    limited = _post(llm, "local?fault=http_429&retry_after=2", stream=False)
    assert limited.status == 429 and limited.getheader("Retry-After") == "2"
    assert _post(llm, "local?fault=http_500", stream=True).status == 500


def test_server_records_client_closing_the_connection(llm: local_llm.LocalLLM) -> None:
    llm.reset()
    url = urlparse(llm.base_url)
    sock = socket.create_connection((url.hostname, url.port))
    body = json.dumps({"model": "local?tps=20", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
    sock.recv(4096)
    wait_until(lambda: llm.requests()[-1]["tokens_sent"] > 0, what="tokens to flow")
    closed_at = time.time()
    sock.close()
    record = wait_until(lambda: (r := llm.requests()[-1])["outcome"] != "running" and r, what="the close to be seen")
    assert record["outcome"] == "client_closed"
    assert record["ended"] - closed_at < 0.05
    assert 0 < record["tokens_sent"] < record["tokens_planned"]


@pytest.mark.slow  # measured over a second
def test_start_reports_a_clear_error_when_the_port_is_taken(llm: local_llm.LocalLLM) -> None:
    with pytest.raises(RuntimeError, match="did not start"):
        local_llm.start(port=llm.port, timeout=5)
