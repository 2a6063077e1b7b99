"""The official `openai` Python SDK against Switchyard, end to end.

Upstreams: `sy-mock-upstream` (an OpenAI-compatible server whose behaviour is chosen by the
upstream model name) and the gateway's built-in simulator. See conftest.py for the config.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.request

import openai
import pytest

from conftest import MAX_BODY_BYTES

USER = [{"role": "user", "content": "Say hi"}]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

# What sy-mock-upstream answers (crates/sy-testkit/src/mock.rs).
MOCK_REPLY = "Hello from the mock upstream. This is a fixed reply."
MOCK_STREAM_TEXT = "Hello from the mock upstream." * 2  # 12 chunks over 6 words
MOCK_EMBEDDING = [0.25, -0.5, 0.125, 1.0]


# --------------------------------------------------------------------------------------------
# Chat Completions, non-streamed
# --------------------------------------------------------------------------------------------


def test_chat_non_stream(client: openai.OpenAI):
    completion = client.chat.completions.create(model="mock-chat", messages=USER)
    assert completion.object == "chat.completion"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == MOCK_REPLY
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 12
    assert completion.usage.completion_tokens == 10
    assert completion.usage.total_tokens == 22


def test_chat_non_stream_routing_headers(client: openai.OpenAI):
    raw = client.chat.completions.with_raw_response.create(model="mock-chat", messages=USER)
    assert raw.status_code == 200
    request_id = raw.headers.get("x-request-id")
    assert request_id, "every answer carries the gateway's x-request-id"
    assert raw.headers.get("x-switchyard-provider") == "mock"
    assert raw.headers.get("x-switchyard-deployment") == "mock/mock-model"
    assert raw.headers.get("x-switchyard-attempts") == "1"
    assert raw.headers.get("x-switchyard-upstream-request-id") == "mock-upstream"
    assert raw.headers.get("content-type", "").startswith("application/json")
    completion = raw.parse()
    assert completion.choices[0].message.content == MOCK_REPLY

    again = client.chat.completions.with_raw_response.create(model="mock-chat", messages=USER)
    assert again.headers.get("x-request-id") not in (None, request_id), "request ids are unique"


def test_chat_simulator_non_stream(client: openai.OpenAI):
    raw = client.chat.completions.with_raw_response.create(
        model="sim", messages=[{"role": "user", "content": "Tell me about trains"}]
    )
    assert raw.headers.get("x-switchyard-provider") == "sim"
    assert raw.headers.get("x-switchyard-deployment") == "sim/sim-model"
    completion = raw.parse()
    content = completion.choices[0].message.content
    assert "Tell me about trains" in content
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage.completion_tokens == len(content.split(" "))
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0


def test_chat_simulator_max_tokens_finishes_with_length(client: openai.OpenAI):
    completion = client.chat.completions.create(
        model="sim", messages=[{"role": "user", "content": "a long answer please"}], max_tokens=2
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 2


# --------------------------------------------------------------------------------------------
# Chat Completions, streamed
# --------------------------------------------------------------------------------------------


def test_stream_without_usage(client: openai.OpenAI):
    """The gateway asks the upstream for usage, but the client did not: no usage reaches it."""
    stream = client.chat.completions.create(model="mock-chat", messages=USER, stream=True)
    chunks = list(stream)  # ends at [DONE] without error
    assert len(chunks) >= 2
    roles = [c.choices[0].delta.role for c in chunks if c.choices and c.choices[0].delta.role]
    assert roles == ["assistant"], "the role arrives exactly once"
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.choices, "no usage-only chunk (empty choices) when usage was not requested"
        assert chunk.usage is None
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == MOCK_STREAM_TEXT
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_without_usage_raw_sse(client: openai.OpenAI):
    """On the wire: SSE, terminated by [DONE], and no `usage` key at all (not even null)."""
    with client.chat.completions.with_streaming_response.create(
        model="mock-chat", messages=USER, stream=True
    ) as response:
        assert response.status_code == 200
        assert response.headers.get("content-type", "").startswith("text/event-stream")
        assert response.headers.get("x-request-id")
        assert response.headers.get("x-switchyard-provider") == "mock"
        lines = [line for line in response.iter_lines() if line]
    data = [line[len("data: ") :] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert data.count("[DONE]") == 1
    for payload in data[:-1]:
        assert '"usage"' not in payload, payload


def test_stream_with_usage(client: openai.OpenAI):
    stream = client.chat.completions.create(
        model="mock-chat",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == [], "the usage chunk has empty choices"
    assert last.usage is not None
    assert last.usage.prompt_tokens == 12
    assert last.usage.completion_tokens == 12
    assert last.usage.total_tokens == 24
    for chunk in chunks[:-1]:
        assert chunk.choices
        assert chunk.usage is None
    text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
    assert text == MOCK_STREAM_TEXT


def test_stream_simulator_matches_non_stream(client: openai.OpenAI):
    messages = [{"role": "user", "content": "stream me something"}]
    whole = client.chat.completions.create(model="sim", messages=messages)
    chunks = list(client.chat.completions.create(model="sim", messages=messages, stream=True))
    assert all(c.choices and c.usage is None for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.choices[0].message.content
    roles = [c.choices[0].delta.role for c in chunks if c.choices[0].delta.role]
    assert roles == ["assistant"]

    with_usage = list(
        client.chat.completions.create(
            model="sim", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert with_usage[-1].choices == []
    assert with_usage[-1].usage.total_tokens == whole.usage.total_tokens


@pytest.mark.parametrize("model", ["mock-chat", "sim"])
def test_stream_with_usage_explicitly_false(client: openai.OpenAI, model: str):
    """`include_usage: false` from the client: still no usage chunk, no `usage` key."""
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=USER, stream=True, stream_options={"include_usage": False}
    ) as response:
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert all('"usage"' not in d for d in data), data


def test_stream_with_stream_options_null(client: openai.OpenAI):
    # The SDK sends `"stream_options": null` when the caller passes stream_options=None.
    chunks = list(
        client.chat.completions.create(model="sim", messages=USER, stream=True, stream_options=None)
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_helper_final_completion(client: openai.OpenAI):
    deltas = []
    with client.chat.completions.stream(model="mock-chat", messages=USER) as stream:
        for event in stream:
            if event.type == "content.delta":
                deltas.append(event.delta)
        final = stream.get_final_completion()
    assert "".join(deltas) == MOCK_STREAM_TEXT
    assert final.choices[0].message.content == MOCK_STREAM_TEXT
    assert final.choices[0].message.role == "assistant"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is None


def test_stream_helper_with_usage(client: openai.OpenAI):
    with client.chat.completions.stream(
        model="mock-chat", messages=USER, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == MOCK_STREAM_TEXT
    assert final.usage is not None
    assert final.usage.total_tokens == 24


# --------------------------------------------------------------------------------------------
# Tool calls
# --------------------------------------------------------------------------------------------


def test_tool_call_non_stream(client: openai.OpenAI):
    completion = client.chat.completions.create(
        model="mock-tools",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.id == "call_mock_weather"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_tool_call_stream_raw_chunks(client: openai.OpenAI):
    stream = client.chat.completions.create(
        model="mock-tools",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    arguments, names, ids = "", [], []
    finish = None
    for chunk in stream:
        assert chunk.usage is None
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            assert tc.index == 0
            if tc.id:
                ids.append(tc.id)
            if tc.function and tc.function.name:
                names.append(tc.function.name)
            if tc.function and tc.function.arguments:
                arguments += tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert ids == ["call_mock_weather"]
    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "Paris"}
    assert finish == "tool_calls"


def test_tool_call_stream_helper(client: openai.OpenAI):
    done_events = []
    delta_events = 0
    with client.chat.completions.stream(
        model="mock-tools",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.delta":
                delta_events += 1
                assert event.index == 0
                assert event.name == "get_weather"
            elif event.type == "tool_calls.function.arguments.done":
                done_events.append(event)
        final = stream.get_final_completion()
    assert delta_events >= 2, "arguments arrive in fragments and are accumulated by the SDK"
    assert len(done_events) == 1
    done = done_events[0]
    assert done.index == 0
    assert done.name == "get_weather"
    assert json.loads(done.arguments) == {"city": "Paris"}
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert len(calls) == 1
    assert calls[0].id == "call_mock_weather"
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}


def test_tool_call_round_trip_with_simulator(client: openai.OpenAI):
    question = "What is the weather in Paris?"
    messages: list[dict] = [{"role": "user", "content": question}]
    first = client.chat.completions.create(
        model="sim", messages=messages, tools=[WEATHER_TOOL], tool_choice="required"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"input": question}

    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        }
    )
    messages.append(
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature_c": 21, "sky": "clear"}'}
    )
    second = client.chat.completions.create(model="sim", messages=messages, tools=[WEATHER_TOOL])
    answer = second.choices[0]
    assert answer.finish_reason == "stop"
    assert answer.message.tool_calls is None
    assert answer.message.content.startswith("The tool answered:")
    assert '"temperature_c": 21' in answer.message.content


def test_tool_call_stream_with_simulator(client: openai.OpenAI):
    with client.chat.completions.stream(
        model="sim",
        messages=[{"role": "user", "content": "weather in Paris"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert final.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"input": "weather in Paris"}


# --------------------------------------------------------------------------------------------
# Embeddings and models
# --------------------------------------------------------------------------------------------


def test_embeddings_sdk_default_base64(client: openai.OpenAI):
    # Without encoding_format the SDK asks for base64 and decodes it into floats.
    raw = client.embeddings.with_raw_response.create(model="mock-embed", input=["one", "two"])
    assert raw.headers.get("x-switchyard-provider") == "mock"
    result = raw.parse()
    assert [d.index for d in result.data] == [0, 1]
    for item in result.data:
        assert isinstance(item.embedding, list)
        assert all(isinstance(x, float) for x in item.embedding)
        assert item.embedding == MOCK_EMBEDDING
    assert result.usage.prompt_tokens == result.usage.total_tokens > 0


def test_embeddings_float(client: openai.OpenAI):
    result = client.embeddings.create(model="mock-embed", input="hello", encoding_format="float")
    assert len(result.data) == 1
    assert result.data[0].embedding == MOCK_EMBEDDING


def test_embeddings_simulator_both_formats(client: openai.OpenAI):
    b64 = client.embeddings.create(model="sim", input="the same text")
    flt = client.embeddings.create(model="sim", input="the same text", encoding_format="float")
    v1, v2 = b64.data[0].embedding, flt.data[0].embedding
    assert len(v1) == len(v2) == 32  # embedding_dimensions in the config
    assert all(isinstance(x, float) for x in v1)
    assert v1 == pytest.approx(v2, abs=1e-6)
    assert math.sqrt(sum(x * x for x in v1)) == pytest.approx(1.0, abs=1e-3)


def test_embeddings_simulator_dimensions(client: openai.OpenAI):
    result = client.embeddings.create(model="sim", input=["a", "b", "c"], dimensions=8)
    assert [len(d.embedding) for d in result.data] == [8, 8, 8]
    assert [d.index for d in result.data] == [0, 1, 2]


def test_models_list(client: openai.OpenAI, stack):
    models = client.models.list()
    ids = [m.id for m in models]
    for name in stack.model_names:
        assert name in ids
    assert len(ids) == len(set(ids))
    assert all(m.object == "model" for m in models.data)


# --------------------------------------------------------------------------------------------
# Errors: each class maps to the SDK's exception type
# --------------------------------------------------------------------------------------------


def test_400_empty_messages(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="mock-chat", messages=[])
    e = info.value
    assert e.status_code == 400
    assert e.type == "invalid_request_error"
    assert e.param == "messages"
    assert e.request_id, "gateway errors carry x-request-id"


def test_400_invalid_stream_type(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="mock-chat", messages=USER, extra_body={"stream": "yes"}
        )
    assert info.value.status_code == 400
    assert info.value.param == "stream"


def test_400_invalid_encoding_format(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(
            model="mock-embed", input="x", extra_body={"encoding_format": "int8"}
        )
    assert info.value.param == "encoding_format"


def test_400_from_upstream_passed_back(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="mock-error-400", messages=USER)
    assert info.value.status_code == 400
    assert "Invalid request (mock)." in info.value.message


def test_400_from_simulator_passed_back(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="sim", messages=USER, n=2)
    e = info.value
    assert "`n` must be 1" in e.message
    assert e.response.headers.get("x-switchyard-provider") == "sim"
    assert e.response.headers.get("x-switchyard-attempts") == "1"


def test_404_unknown_model(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=USER)
    e = info.value
    assert e.status_code == 404
    assert e.code == "model_not_found"
    assert "no-such-model" in e.message
    assert e.request_id


def test_404_unknown_model_embeddings(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="no-such-model", input="x")
    assert info.value.code == "model_not_found"


def test_404_from_upstream_passed_back(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="mock-error-404", messages=USER)
    assert info.value.code == "model_not_found"


def test_413_oversized_body(client: openai.OpenAI):
    big = "x" * (MAX_BODY_BYTES + 4096)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="mock-chat", messages=[{"role": "user", "content": big}]
        )
    e = info.value
    assert e.status_code == 413
    assert e.code == "request_too_large"
    assert str(MAX_BODY_BYTES) in e.message


def test_429_from_upstream(client: openai.OpenAI):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="mock-error-429", messages=USER)
    e = info.value
    assert e.status_code == 429
    assert e.response.headers.get("retry-after") == "1"
    assert e.code == "rate_limit_exceeded"
    assert "Rate limit reached (mock)." in e.message
    assert e.request_id


def test_429_from_upstream_on_a_stream_request(client: openai.OpenAI):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="mock-error-429", messages=USER, stream=True)
    assert info.value.response.headers.get("retry-after") == "1"


def test_429_from_simulator(client: openai.OpenAI):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="sim-429", messages=USER)
    assert info.value.response.headers.get("retry-after") is not None


@pytest.mark.parametrize(
    "model, provider",
    [("mock-error-401", "mock"), ("sim-401", "sim-401")],
)
def test_upstream_401_becomes_502(client: openai.OpenAI, model: str, provider: str):
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=model, messages=USER)
    e = info.value
    assert not isinstance(e, openai.AuthenticationError), "never blame the caller's key"
    assert isinstance(e, openai.InternalServerError)
    assert e.status_code == 502
    assert f"`{provider}`" in e.message
    assert e.code == "upstream_auth_failed"


@pytest.mark.parametrize("model", ["mock-error-503", "sim-503"])
def test_upstream_503(client: openai.OpenAI, model: str):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=model, messages=USER)
    e = info.value
    assert e.status_code == 503
    assert e.code == "upstream_unavailable"
    assert e.response.headers.get("retry-after") == "1"


def test_upstream_500_becomes_502(client: openai.OpenAI):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="mock-error-500", messages=USER)
    assert info.value.status_code == 502
    assert "`mock`" in info.value.message


def test_504_first_byte_timeout(client: openai.OpenAI):
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="sim-slow", messages=USER)
    elapsed = time.monotonic() - started
    e = info.value
    assert not isinstance(e, openai.APITimeoutError)
    assert isinstance(e, openai.InternalServerError)
    assert e.status_code == 504
    assert e.code == "upstream_timeout"
    assert "sim-slow" in e.message
    assert elapsed < 2.5, f"the gateway answered after {elapsed:.2f}s, not at its 300 ms timeout"


def test_stream_cut_midway_raises_api_error(client: openai.OpenAI):
    stream = client.chat.completions.create(
        model="sim-cut",
        messages=[{"role": "user", "content": "one two three four five six seven"}],
        stream=True,
    )
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert not isinstance(info.value, openai.APIStatusError)
    text = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert text, "some content arrived before the cut"
    assert all(c.choices[0].finish_reason is None for c in received if c.choices)
    body = info.value.body
    assert isinstance(body, dict)
    assert body.get("code") == "upstream_stream_error"


def test_stream_cut_midway_with_stream_helper(client: openai.OpenAI):
    with pytest.raises(openai.APIError):
        with client.chat.completions.stream(
            model="sim-cut", messages=[{"role": "user", "content": "a b c d e f g"}]
        ) as stream:
            for _ in stream:
                pass


def test_unknown_route_is_openai_shaped_404(client: openai.OpenAI):
    with pytest.raises(openai.NotFoundError) as info:
        client.post("/no/such/endpoint", cast_to=object, body={})
    assert info.value.code == "unknown_url"


# --------------------------------------------------------------------------------------------
# Concurrency, and the gateway still serving after everything above
# --------------------------------------------------------------------------------------------


def test_async_client_concurrent_streams(stack):
    async def main() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=stack.base_url, api_key="unused", max_retries=0, timeout=30.0
        ) as aclient:

            async def one(i: int) -> str:
                model = "mock-chat" if i % 2 == 0 else "sim"
                stream = await aclient.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": f"request {i}"}],
                    stream=True,
                )
                parts = []
                async for chunk in stream:
                    assert chunk.usage is None
                    parts.append(chunk.choices[0].delta.content or "")
                return "".join(parts)

            return await asyncio.gather(*(one(i) for i in range(16)))

    texts = asyncio.run(main())
    for i, text in enumerate(texts):
        if i % 2 == 0:
            assert text == MOCK_STREAM_TEXT
        else:
            assert f"request {i}" in text


def _metric(stack, prefix: str) -> list[str]:
    with urllib.request.urlopen(f"{stack.root_url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return [line for line in text.splitlines() if line.startswith(prefix)]


def _aborted_count(stack) -> float:
    lines = [l for l in _metric(stack, "switchyard_requests_total") if "client_aborted" in l]
    return sum(float(l.rsplit(" ", 1)[1]) for l in lines)


def test_client_abandons_a_stream_midway(client: openai.OpenAI, stack):
    aborted_before = _aborted_count(stack)
    stream = client.chat.completions.create(
        model="sim-paced",
        messages=[{"role": "user", "content": "one two three four five six"}],
        stream=True,
    )
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()  # walk away mid-stream
    # The gateway notices, frees the request and counts it as client-aborted.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        aborted = _aborted_count(stack) - aborted_before
        in_flight = _metric(stack, "switchyard_in_flight_requests ")
        if aborted == 1 and in_flight == ["switchyard_in_flight_requests 0"]:
            break
        time.sleep(0.05)
    assert aborted == 1, "the abandoned stream is counted as client_aborted"
    assert in_flight == ["switchyard_in_flight_requests 0"]
    assert client.chat.completions.create(model="mock-chat", messages=USER).choices[0].message.content


def test_zz_gateway_still_serving(client: openai.OpenAI, stack):
    """Runs last (file order): every failure above left the gateway healthy."""
    assert stack.gateway.poll() is None, "the gateway process is still running"
    assert stack.mock.poll() is None, "the mock upstream is still running"
    with urllib.request.urlopen(f"{stack.root_url}/healthz", timeout=5) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(f"{stack.root_url}/readyz", timeout=5) as resp:
        ready = json.loads(resp.read())
        assert ready["status"] == "ready"
    completion = client.chat.completions.create(model="mock-chat", messages=USER)
    assert completion.choices[0].message.content == MOCK_REPLY
    chunks = list(client.chat.completions.create(model="sim", messages=USER, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert client.embeddings.create(model="mock-embed", input="x").data[0].embedding == MOCK_EMBEDDING
    log = stack.gateway_log.read_text(errors="replace")
    assert "panicked" not in log, "the gateway log shows a panic"
