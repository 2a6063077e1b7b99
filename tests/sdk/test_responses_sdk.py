"""The official `openai` SDK's Responses API (`POST /v1/responses`, stateless) against Switchyard,
in front of every upstream dialect: sy-mock-upstream (OpenAI) and the fake Anthropic, Bedrock and
Gemini APIs of sy-fake-clouds.

Text whole and streamed (the event sequence and the final response), a function call and its
output sent back, the stored-response features the gateway refuses (`store: true`,
`previous_response_id`), and errors as the SDK's exception classes or, once the stream has begun,
as `error` and `response.failed` events.
"""

from __future__ import annotations

import json
import ssl

import openai
import pytest

from conftest import PNG_BASE64, UPSTREAMS, IngressGateway, Upstream

PROMPT = "Say hello."
WEATHER = "What is the weather in Paris?"
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
    "strict": False,
}
UPSTREAM_IDS = list(UPSTREAMS)


@pytest.fixture(scope="module")
def client(ingress_gateway: IngressGateway):
    c = openai.OpenAI(
        base_url=f"{ingress_gateway.root_url}/v1",
        api_key=ingress_gateway.key,
        max_retries=0,
        timeout=30.0,
    )
    yield c
    c.close()


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_create(client: openai.OpenAI, upstream: str):
    up: Upstream = UPSTREAMS[upstream]
    raw = client.responses.with_raw_response.create(model=up.text_model, input=PROMPT)
    assert raw.headers.get("x-switchyard-provider") == up.provider
    response = raw.parse()
    assert response.object == "response"
    assert response.id
    assert response.status == "completed"
    assert response.model == up.text_model
    assert response.output_text == up.text
    messages = [item for item in response.output if item.type == "message"]
    assert len(messages) == 1
    assert messages[0].role == "assistant"
    usage = response.usage
    assert usage is not None
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_create_with_instructions_and_message_list(client: openai.OpenAI, upstream: str):
    up = UPSTREAMS[upstream]
    response = client.responses.create(
        model=up.text_model,
        instructions="Be brief.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        max_output_tokens=256,
    )
    assert response.output_text == up.text
    assert response.instructions == "Be brief."
    assert response.max_output_tokens == 256


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_an_inline_image(client: openai.OpenAI, upstream: str):
    up = UPSTREAMS[upstream]
    response = client.responses.create(
        model=up.text_model,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_BASE64}"},
                    {"type": "input_text", "text": "What is in this picture?"},
                ],
            }
        ],
    )
    assert response.output_text == up.text


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_stream(client: openai.OpenAI, upstream: str):
    up = UPSTREAMS[upstream]
    kinds, deltas = [], []
    with client.responses.stream(model=up.text_model, input=PROMPT) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    for expected in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert expected in kinds, f"no {expected} in {kinds}"
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert "".join(deltas) == up.streamed_text
    assert final.status == "completed"
    assert final.output_text == up.streamed_text
    assert final.usage is not None
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_stream_sequence_numbers_increase(client: openai.OpenAI, upstream: str):
    up = UPSTREAMS[upstream]
    events = list(client.responses.create(model=up.text_model, input=PROMPT, stream=True))
    numbers = [event.sequence_number for event in events]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == up.streamed_text


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_function_call_round_trip(client: openai.OpenAI, upstream: str):
    up = UPSTREAMS[upstream]
    asked = client.responses.create(model=up.tool_model, input=WEATHER, tools=[WEATHER_TOOL])
    calls = [item for item in asked.output if item.type == "function_call"]
    assert len(calls) == 1
    call = calls[0]
    assert call.call_id
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == up.arguments
    assert asked.output_text == ""

    # The call and its output go back, statelessly, in the input (to the same upstream's text
    # model: the fakes answer a tool model with a call on every turn).
    answered = client.responses.create(
        model=up.text_model,
        tools=[WEATHER_TOOL],
        input=[
            {"role": "user", "content": WEATHER},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
        ],
    )
    assert answered.status == "completed"
    assert answered.output_text == up.text


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_replaying_the_output_items_as_returned(client: openai.OpenAI, upstream: str):
    """Stateless multi-turn as SDK users write it: the previous `response.output` items, as the
    SDK returned them (ids, status and all), go back in `input`."""
    up = UPSTREAMS[upstream]
    asked = client.responses.create(model=up.tool_model, input=WEATHER, tools=[WEATHER_TOOL])
    items = [item.model_dump(exclude_none=True) for item in asked.output]
    calls = [item for item in items if item["type"] == "function_call"]
    assert len(calls) == 1 and calls[0].get("id") and calls[0].get("status")
    follow = [
        {"role": "user", "content": WEATHER},
        *items,
        {"type": "function_call_output", "call_id": calls[0]["call_id"], "output": "sunny"},
    ]
    answered = client.responses.create(model=up.text_model, input=follow, tools=[WEATHER_TOOL])
    text_items = [item.model_dump(exclude_none=True) for item in answered.output]
    assert text_items[0]["type"] == "message" and text_items[0].get("id")
    again = client.responses.create(
        model=up.text_model,
        input=[*follow, *text_items, {"role": "user", "content": "And tomorrow?"}],
        tools=[WEATHER_TOOL],
    )
    assert again.output_text == up.text


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_function_call_with_required_tool_choice(client: openai.OpenAI, upstream: str):
    up = UPSTREAMS[upstream]
    asked = client.responses.create(
        model=up.tool_model,
        input=WEATHER,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    calls = [item for item in asked.output if item.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [up.arguments]
    assert asked.tool_choice == "required"


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_structured_output_format(client: openai.OpenAI, upstream: str):
    """A json_schema text format is accepted and echoed; the fakes answer their fixed text."""
    up = UPSTREAMS[upstream]
    schema = {
        "type": "object",
        "properties": {"greeting": {"type": "string"}},
        "required": ["greeting"],
        "additionalProperties": False,
    }
    response = client.responses.create(
        model=up.text_model,
        input=PROMPT,
        text={"format": {"type": "json_schema", "name": "greeting", "schema": schema, "strict": True}},
    )
    assert response.status == "completed"
    assert response.output_text == up.text
    assert response.text.format.type == "json_schema"


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_function_call_streamed(client: openai.OpenAI, upstream: str):
    up = UPSTREAMS[upstream]
    done = []
    with client.responses.stream(model=up.tool_model, input=WEATHER, tools=[WEATHER_TOOL]) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.done":
                done.append(event)
        final = stream.get_final_response()
    assert len(done) == 1
    assert json.loads(done[0].arguments) == up.arguments
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == up.arguments


# --------------------------------------------------------------------------------------------
# What a stateless gateway refuses
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stateful",
    [{"store": True}, {"previous_response_id": "resp_0123456789abcdef"}],
    ids=["store", "previous_response_id"],
)
def test_stored_responses_are_refused(client: openai.OpenAI, stateful: dict):
    with pytest.raises(openai.BadRequestError) as raised:
        client.responses.create(model=UPSTREAMS["anthropic"].text_model, input=PROMPT, **stateful)
    assert raised.value.status_code == 400
    assert raised.value.param == next(iter(stateful))
    assert raised.value.message


def test_store_false_is_accepted(client: openai.OpenAI):
    response = client.responses.create(
        model=UPSTREAMS["anthropic"].text_model, input=PROMPT, store=False
    )
    assert response.output_text == UPSTREAMS["anthropic"].text


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "exception", "status"),
    [
        ("no-such-model", openai.NotFoundError, 404),
        ("bedrock-throttled", openai.RateLimitError, 429),
        ("gemini-exhausted", openai.RateLimitError, 429),
        ("claude-overloaded", openai.InternalServerError, 503),
        ("mock-error-400", openai.BadRequestError, 400),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_refusals_raise_the_sdk_classes(
    client: openai.OpenAI, model: str, exception: type, status: int, stream: bool
):
    with pytest.raises(exception) as raised:
        result = client.responses.create(model=model, input=PROMPT, stream=stream)
        if stream:
            list(result)
    assert raised.value.status_code == status
    body = raised.value.body
    assert isinstance(body, dict) and body.get("message") and body.get("type")


def test_throttling_carries_retry_after(client: openai.OpenAI):
    with pytest.raises(openai.RateLimitError) as raised:
        client.responses.create(model="gemini-exhausted", input=PROMPT)
    assert raised.value.response.headers.get("retry-after") == "7"


def test_a_wrong_key_is_an_authentication_error(ingress_gateway: IngressGateway):
    with openai.OpenAI(
        base_url=f"{ingress_gateway.root_url}/v1", api_key="sk-sy-this-is-not-a-key", max_retries=0
    ) as client:
        with pytest.raises(openai.AuthenticationError) as raised:
            client.responses.create(model=UPSTREAMS["anthropic"].text_model, input=PROMPT)
    assert raised.value.status_code == 401


MID_STREAM_FAILURES = [
    # Anthropic's `event: error` overloaded_error; Bedrock's throttlingException frame.
    ("claude-stream-overloaded", "overloaded"),
    ("bedrock-stream-throttled", "rate_limit_exceeded"),
]


@pytest.mark.parametrize(("model", "code"), MID_STREAM_FAILURES)
def test_a_mid_stream_failure_raises_api_error(client: openai.OpenAI, model: str, code: str):
    """The SDK raises on the `error` event (it carries an `error` object), after the events that
    came before it."""
    events = []
    with pytest.raises(openai.APIError) as raised:
        for event in client.responses.create(model=model, input=PROMPT, stream=True):
            events.append(event)
    assert not isinstance(raised.value, openai.APIStatusError), "the stream had begun"
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created"
    assert "response.completed" not in kinds
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Hello", "the first piece arrived before the failure"
    body = raised.value.body
    assert isinstance(body, dict) and body.get("message"), body
    assert raised.value.code == code


@pytest.mark.parametrize(("model", "code"), MID_STREAM_FAILURES)
def test_a_mid_stream_failure_is_error_then_response_failed(
    client: openai.OpenAI, model: str, code: str
):
    """On the wire: an `error` event, then `response.failed` closes the stream."""
    with client.responses.with_streaming_response.create(
        model=model, input=PROMPT, stream=True
    ) as raw:
        assert raw.status_code == 200
        events = []
        name = None
        for line in raw.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
                assert data["type"] == name
                events.append(data)
    kinds = [event["type"] for event in events]
    assert kinds[-2:] == ["error", "response.failed"], kinds
    error = events[-2]
    assert error["code"] == code
    assert error["message"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["message"]
    numbers = [event["sequence_number"] for event in events]
    assert numbers == list(range(len(events)))


def test_over_https(ingress_gateway_tls: IngressGateway):
    """The same lane through the gateway's TLS listener, trusting its throwaway certificate."""
    gw = ingress_gateway_tls
    http = openai.DefaultHttpxClient(verify=ssl.create_default_context(cafile=str(gw.ca)))
    with openai.OpenAI(
        base_url=f"{gw.root_url}/v1", api_key=gw.key, max_retries=0, timeout=30.0, http_client=http
    ) as client:
        up = UPSTREAMS["gemini"]
        assert client.responses.create(model=up.text_model, input=PROMPT).output_text == up.text
        with client.responses.stream(model=up.text_model, input=PROMPT) as stream:
            assert stream.get_final_response().output_text == up.streamed_text
