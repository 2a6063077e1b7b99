"""The official `openai` SDK against the translation lane: Chat Completions answered by Anthropic,
Bedrock (Converse/ConverseStream, SigV4-signed) and Gemini, here the fakes of `sy-fake-clouds`.

Text and tool calls, whole and streamed, with the raw chunk stream and the SDK's stream helper,
and a refused or unreachable deployment surfacing as the SDK's own exception classes.
"""

from __future__ import annotations

import json

import openai
import pytest

USER = [{"role": "user", "content": "Say hello."}]
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TEXT = "Hello from the cloud"
ARGUMENTS = {"city": "Paris", "unit": "celsius"}

# cloud -> (text model, tool-call model), as configured by the clouds_gateway fixture.
CLOUDS = {
    "anthropic": ("claude-via-anthropic", "claude-tool-via-anthropic"),
    "bedrock": ("claude-via-bedrock", "claude-tool-via-bedrock"),
    "gemini": ("gemini-direct", "gemini-tool"),
}
CLOUD_IDS = list(CLOUDS)


def text_model(cloud: str) -> str:
    return CLOUDS[cloud][0]


def tool_model(cloud: str) -> str:
    return CLOUDS[cloud][1]


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_text_non_stream(clouds_client: openai.OpenAI, cloud: str):
    raw = clouds_client.chat.completions.with_raw_response.create(
        model=text_model(cloud), messages=USER
    )
    assert raw.headers.get("x-switchyard-provider") == cloud
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == text_model(cloud)
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == TEXT
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_text_stream_with_usage(clouds_client: openai.OpenAI, cloud: str):
    chunks = list(
        clouds_client.chat.completions.create(
            model=text_model(cloud),
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks, "no chunks"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    *content_chunks, usage_chunk = chunks
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens > 0
    assert usage_chunk.usage.completion_tokens > 0
    assert (
        usage_chunk.usage.total_tokens
        == usage_chunk.usage.prompt_tokens + usage_chunk.usage.completion_tokens
    )
    assert all(c.usage is None for c in content_chunks)
    roles = [c.choices[0].delta.role for c in content_chunks if c.choices[0].delta.role]
    assert roles == ["assistant"]
    text = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert text == TEXT
    finishes = [c.choices[0].finish_reason for c in content_chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert content_chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_text_stream_helper(clouds_client: openai.OpenAI, cloud: str):
    deltas = []
    with clouds_client.chat.completions.stream(
        model=text_model(cloud), messages=USER, stream_options={"include_usage": True}
    ) as stream:
        for event in stream:
            if event.type == "content.delta":
                deltas.append(event.delta)
        final = stream.get_final_completion()
    assert "".join(deltas) == TEXT
    choice = final.choices[0]
    assert choice.message.content == TEXT
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert final.usage is not None and final.usage.total_tokens > 0


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_tool_call_non_stream(clouds_client: openai.OpenAI, cloud: str):
    completion = clouds_client.chat.completions.create(
        model=tool_model(cloud), messages=WEATHER, tools=[WEATHER_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert not choice.message.content
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    call = calls[0]
    assert call.type == "function"
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == ARGUMENTS
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_tool_call_stream_raw_chunks(clouds_client: openai.OpenAI, cloud: str):
    stream = clouds_client.chat.completions.create(
        model=tool_model(cloud),
        messages=WEATHER,
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    calls: dict[int, dict] = {}
    finish, usage = None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        if not chunk.choices:
            continue
        for tc in chunk.choices[0].delta.tool_calls or []:
            call = calls.get(tc.index)
            if call is None:
                # The first delta of a call names it.
                assert tc.id, "the first tool-call delta carries the id"
                assert tc.function and tc.function.name == "get_weather"
                call = calls[tc.index] = {"id": tc.id, "name": tc.function.name, "arguments": ""}
            else:
                assert not tc.id, "only the first delta carries the id"
                assert not (tc.function and tc.function.name), "only the first delta carries the name"
            if tc.function and tc.function.arguments:
                call["arguments"] += tc.function.arguments
        finish = chunk.choices[0].finish_reason or finish
    assert list(calls) == [0]
    assert json.loads(calls[0]["arguments"]) == ARGUMENTS
    assert finish == "tool_calls"
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0


@pytest.mark.parametrize("cloud", CLOUD_IDS)
def test_tool_call_stream_helper(clouds_client: openai.OpenAI, cloud: str):
    done_events = []
    with clouds_client.chat.completions.stream(
        model=tool_model(cloud), messages=WEATHER, tools=[WEATHER_TOOL]
    ) as stream:
        for event in stream:
            if event.type == "tool_calls.function.arguments.done":
                done_events.append(event)
        final = stream.get_final_completion()
    assert len(done_events) == 1
    assert done_events[0].index == 0
    assert done_events[0].name == "get_weather"
    assert json.loads(done_events[0].arguments) == ARGUMENTS
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].id
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == ARGUMENTS
    # The helper parses the arguments against the tool's schema when it can.
    assert calls[0].function.parsed_arguments in (None, ARGUMENTS)


def first_call(client: openai.OpenAI, model: str, stream: bool) -> dict:
    """The one tool call of a first turn, as a chat message's `tool_calls` item."""
    if not stream:
        message = client.chat.completions.create(
            model=model, messages=WEATHER, tools=[WEATHER_TOOL]
        ).choices[0].message
        (call,) = message.tool_calls
        return {"id": call.id, "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments}}
    with client.chat.completions.stream(model=model, messages=WEATHER, tools=[WEATHER_TOOL]) as s:
        final = s.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    return {"id": call.id, "type": "function",
            "function": {"name": call.function.name, "arguments": call.function.arguments}}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_gemini_3_tool_loop_replays_the_thought_signature(
    clouds_client: openai.OpenAI, stream: bool
):
    # Gemini 3 signs its calls and refuses a replayed call without its signature (E20). The
    # OpenAI caller keeps nothing but the call id, so the signature must ride in it.
    call = first_call(clouds_client, "gemini-3-tool", stream)
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == ARGUMENTS
    history = WEATHER + [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "18C"},
    ]
    answer = clouds_client.chat.completions.create(
        model="gemini-3-tool", messages=history, tools=[WEATHER_TOOL], stream=stream
    )
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    else:
        text = answer.choices[0].message.content
    assert text == "The call came back with its signature."


def test_gemini_3_gets_the_stand_in_for_a_call_it_did_not_sign(clouds_client: openai.OpenAI):
    # A call from another provider (or an id that lost its signature) cannot carry one: the
    # gateway sends Google's documented stand-in, rather than a request Gemini 3 refuses.
    call = {"id": "call_from_elsewhere", "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps(ARGUMENTS)}}
    history = WEATHER + [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "18C"},
    ]
    answer = clouds_client.chat.completions.create(
        model="gemini-3-tool", messages=history, tools=[WEATHER_TOOL]
    )
    assert answer.choices[0].message.content == "The call came back with the stand-in."


# --------------------------------------------------------------------------------------------
# A deployment that refuses or cannot be reached
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_unreachable_only_deployment(clouds_client: openai.OpenAI, stream: bool):
    with pytest.raises(openai.InternalServerError) as raised:
        result = clouds_client.chat.completions.create(
            model="claude-unreachable", messages=USER, stream=stream
        )
        if stream:
            list(result)
    assert raised.value.status_code in (502, 503)
    assert isinstance(raised.value.body, dict) and raised.value.body.get("message")


@pytest.mark.parametrize(
    ("model", "exception", "status"),
    [
        # Anthropic's 529 overloaded_error: the gateway's 503, a server error to the SDK.
        ("claude-overloaded", openai.InternalServerError, 503),
        # Bedrock's ThrottlingException and Gemini's RESOURCE_EXHAUSTED: 429s.
        ("bedrock-throttled", openai.RateLimitError, 429),
        ("gemini-exhausted", openai.RateLimitError, 429),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_refusing_only_deployment(
    clouds_client: openai.OpenAI, model: str, exception: type, status: int, stream: bool
):
    with pytest.raises(exception) as raised:
        result = clouds_client.chat.completions.create(model=model, messages=USER, stream=stream)
        if stream:
            list(result)
    assert raised.value.status_code == status
    body = raised.value.body
    # OpenAI's error shape, never the vendor's body.
    assert isinstance(body, dict) and body.get("message") and body.get("type")


def test_gemini_retry_delay_becomes_retry_after(clouds_client: openai.OpenAI):
    with pytest.raises(openai.RateLimitError) as raised:
        clouds_client.chat.completions.create(model="gemini-exhausted", messages=USER)
    headers = raised.value.response.headers
    assert headers.get("retry-after") == "7"
    assert headers.get("retry-after-ms") == "7000"
