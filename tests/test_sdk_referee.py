"""The official SDKs as referees of the offline model: every endpoint the project uses, every object
validated strictly against the SDK's own types (``openai`` and ``anthropic`` Python packages).

The SDKs build their return values without validation (``construct``), so each test reads the raw
JSON through ``with_raw_response`` and validates it with ``Model.model_validate``: a missing
required field, a wrong literal or a wrong type fails here.
"""

from __future__ import annotations

import io
import json
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from openai.types import Batch, FileObject
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import TypeAdapter

from baml_magic import local_llm
from baml_magic.testing import wait_until

PROMPT = "Hello. Answer in JSON using this schema:\n{\n  title: string,\n}"
ENDED = {"completed", "failed", "expired", "cancelled"}


@pytest.fixture(scope="module")
def oai(llm: local_llm.LocalLLM) -> openai.OpenAI:
    return openai.OpenAI(base_url=llm.base_url, api_key="sk-local-test", max_retries=0)


@pytest.fixture(scope="module")
def claude(llm: local_llm.LocalLLM) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=llm.url, api_key="sk-ant-local-test", max_retries=0)


def _raw(response: Any) -> Any:
    return json.loads(response.http_response.text if hasattr(response, "http_response") else response.text)


def _events(lines: list[str]) -> list[Any]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ") and line != "data: [DONE]"]


def test_chat_plain_and_streamed_with_and_without_usage(oai: openai.OpenAI) -> None:
    plain = oai.chat.completions.with_raw_response.create(model="local", messages=[{"role": "user",
                                                                                     "content": PROMPT}])
    body = ChatCompletion.model_validate(_raw(plain))
    assert body.usage is not None and body.usage.completion_tokens > 0
    for include_usage in (False, True):
        extra = {"stream_options": {"include_usage": True}} if include_usage else {}
        with oai.chat.completions.with_streaming_response.create(
                model="local", messages=[{"role": "user", "content": PROMPT}], stream=True, **extra) as response:
            lines = list(response.iter_lines())
        assert lines[-1] == "data: [DONE]" or "data: [DONE]" in lines
        chunks = [ChatCompletionChunk.model_validate(event) for event in _events(lines)]
        usage = [c.usage for c in chunks if c.usage is not None]
        assert bool(usage) is include_usage, "usage only when the request asks (stream_options.include_usage)"
        if include_usage:
            assert chunks[-1].choices == [] and usage[-1].completion_tokens == len(chunks) - 2
        assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_messages_plain_and_streamed(claude: anthropic.Anthropic) -> None:
    plain = claude.messages.with_raw_response.create(model="local", max_tokens=200,
                                                     messages=[{"role": "user", "content": PROMPT}])
    message = Message.model_validate(_raw(plain))
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0
    with claude.messages.with_streaming_response.create(model="local", max_tokens=200, stream=True,
                                                        messages=[{"role": "user", "content": PROMPT}]) as response:
        lines = list(response.iter_lines())
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    events = [adapter.validate_python(e) for e in _events(lines)]
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "message_delta" in kinds
    delta = next(e for e in events if e.type == "message_delta")
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert delta.usage.output_tokens == len(deltas), "message_delta carries the whole output count"
    # and the SDK's own stream helper assembles a whole message from them
    with claude.messages.stream(model="local", max_tokens=200, messages=[{"role": "user", "content": PROMPT}]) as s:
        final = s.get_final_message()
    assert final.usage.output_tokens == len(deltas) and json.loads(final.content[0].text)["title"]  # type: ignore[union-attr]


def _jsonl(model: str, count: int) -> bytes:
    return "".join(json.dumps({"custom_id": f"Fn-{i}", "method": "POST", "url": "/v1/chat/completions",
                               "body": {"model": model, "messages": [{"role": "user", "content": PROMPT}]}}) + "\n"
                   for i in range(count)).encode()


def _wait_openai(oai: openai.OpenAI, batch_id: str) -> Batch:
    seen = set()

    def ended() -> Batch | None:
        batch = Batch.model_validate(_raw(oai.batches.with_raw_response.retrieve(batch_id)))
        seen.add(batch.status)
        return batch if batch.status in ENDED else None

    batch: Batch = wait_until(ended, 30, f"batch {batch_id} to end", every=0.05)
    batch.__dict__["_seen"] = seen
    return batch


@pytest.mark.slow
def test_files_and_batches_every_status(oai: openai.OpenAI) -> None:
    upload = oai.files.with_raw_response.create(file=("in.jsonl", io.BytesIO(_jsonl("local?batch_seconds=0.5&"
                                                                                     "item_error_every=3", 6))),
                                                purpose="batch")
    file = FileObject.model_validate(_raw(upload))
    assert file.filename == "in.jsonl" and file.status == "processed"
    assert FileObject.model_validate(_raw(oai.files.with_raw_response.retrieve(file.id))).id == file.id
    listed = _raw(oai.files.with_raw_response.list())
    assert file.id in [FileObject.model_validate(f).id for f in listed["data"]]
    created = Batch.model_validate(_raw(oai.batches.with_raw_response.create(
        input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h",
        metadata={"baml_magic_function": "Fn"})))
    assert created.status == "validating" and created.input_file_id == file.id
    done = _wait_openai(oai, created.id)
    assert done.status == "completed" and {"validating", "in_progress"} <= done.__dict__["_seen"]
    assert done.request_counts is not None and (done.request_counts.completed, done.request_counts.failed) == (4, 2)
    assert done.output_file_id and done.error_file_id and done.completed_at and done.finalizing_at
    errors = [json.loads(line) for line in oai.files.content(done.error_file_id).text.splitlines()]
    assert [e["custom_id"] for e in errors] == ["Fn-2", "Fn-5"]
    assert all(e["response"]["status_code"] == 400 and e["response"]["body"]["error"]["message"] for e in errors)
    listed_batches = _raw(oai.batches.with_raw_response.list())
    assert created.id in [Batch.model_validate(b).id for b in listed_batches["data"]]

    def started(setting: str, count: int = 4) -> Batch:
        uploaded = oai.files.create(file=("b.jsonl", io.BytesIO(_jsonl(f"local?{setting}", count))), purpose="batch")
        return oai.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")

    failed = _wait_openai(oai, started("batch_status=failed").id)
    assert failed.status == "failed" and failed.errors is not None and failed.errors.data
    assert failed.errors.data[0].code == "model_not_found" and failed.errors.data[0].line == 1
    expired = _wait_openai(oai, started("batch_status=expired&batch_seconds=0.2").id)
    assert expired.status == "expired" and expired.error_file_id and expired.expired_at
    codes = {json.loads(x)["error"]["code"] for x in oai.files.content(expired.error_file_id).text.splitlines()}
    assert codes == {"batch_expired"}
    slow = started("batch_seconds=30", 50)
    wait_until(lambda: oai.batches.retrieve(slow.id).status == "in_progress", 10, "the slow batch to start",
               every=0.05)  # cancelled while it runs, not while it is validated
    cancelling = Batch.model_validate(_raw(oai.batches.with_raw_response.cancel(slow.id)))
    assert cancelling.status in ("cancelling", "cancelled")
    cancelled = _wait_openai(oai, slow.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at and cancelled.error_file_id
    with pytest.raises(openai.NotFoundError):
        oai.batches.retrieve("batch_nobody_made")


def test_message_batches_results_and_errors(claude: anthropic.Anthropic) -> None:
    requests = [{"custom_id": f"Fn-{i}", "params": {"model": "local?batch_seconds=0.4&item_error_every=2",
                                                    "max_tokens": 100,
                                                    "messages": [{"role": "user", "content": PROMPT}]}}
                for i in range(4)]
    created = MessageBatch.model_validate(_raw(claude.messages.batches.with_raw_response.create(
        requests=requests)))  # type: ignore[arg-type]
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 4 and created.request_counts.succeeded == 0

    def ended() -> MessageBatch | None:
        batch = MessageBatch.model_validate(_raw(claude.messages.batches.with_raw_response.retrieve(created.id)))
        if batch.processing_status == "ended":
            return batch
        assert batch.request_counts.succeeded == 0, "counts stay zero until the batch has ended"
        return None

    batch: MessageBatch = wait_until(ended, 30, "the message batch to end", every=0.05)
    assert batch.processing_status == "ended" and batch.ended_at is not None and batch.results_url
    assert (batch.request_counts.succeeded, batch.request_counts.errored) == (2, 2)
    results = [MessageBatchIndividualResponse.model_validate(r) for r in _results(claude, batch)]
    kinds = {r.custom_id: r.result.type for r in results}
    assert kinds == {"Fn-0": "succeeded", "Fn-1": "errored", "Fn-2": "succeeded", "Fn-3": "errored"}
    errored = next(r for r in results if r.result.type == "errored")
    assert errored.result.error.error.type == "invalid_request_error"  # type: ignore[union-attr]
    listed = _raw(claude.messages.batches.with_raw_response.list())
    assert created.id in [MessageBatch.model_validate(b).id for b in listed["data"]]
    slow = claude.messages.batches.create(requests=[{**requests[0], "params": {
        **requests[0]["params"], "model": "local?batch_seconds=30"}}])  # type: ignore[arg-type]
    canceling = MessageBatch.model_validate(_raw(claude.messages.batches.with_raw_response.cancel(slow.id)))
    assert canceling.processing_status in ("canceling", "ended") and canceling.cancel_initiated_at is not None
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.batches.retrieve("msgbatch_nobody_made")


def _results(claude: anthropic.Anthropic, batch: MessageBatch) -> list[Any]:
    assert batch.results_url
    response = claude._client.get(batch.results_url, headers={"x-api-key": "sk-ant-local-test"})
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def test_error_bodies_in_each_apis_shape(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(model="local?fault=http_429", messages=[{"role": "user", "content": "x"}])
    assert limited.value.body["message"] == "local_llm: simulated rate limit"  # type: ignore[index]
    assert limited.value.response.headers["retry-after"] == "1"
    with pytest.raises(anthropic.InternalServerError) as failed:
        claude.messages.create(model="local?fault=http_500", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert failed.value.body["error"]["type"] == "api_error"  # type: ignore[index]
