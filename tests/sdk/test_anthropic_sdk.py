"""The official `anthropic` SDK against Switchyard's Anthropic ingress (`POST /v1/messages`,
`POST /v1/messages/count_tokens`), in front of every upstream dialect: sy-mock-upstream (OpenAI)
and the fake Anthropic, Bedrock and Gemini APIs of sy-fake-clouds.

Text whole and streamed (raw events, the text stream and the final message), a tool call and its
result sent back, token counting, errors raised as the SDK's own exception classes (mid-stream
ones included), and both ways the SDK authenticates (`x-api-key` and Bearer) in keys mode.
"""

from __future__ import annotations

import ssl

import anthropic
import pytest

from conftest import CLOUD_MODELS, PNG_BASE64, UPSTREAMS, IngressGateway, Upstream

USER = [{"role": "user", "content": "Say hello."}]
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}
MAX_TOKENS = 256
UPSTREAM_IDS = list(UPSTREAMS)


def answered_model(up: Upstream) -> str:
    """The `model` an answer names: the gateway's model name, except where the upstream speaks
    Anthropic's own format (Anthropic, and Claude on Bedrock through InvokeModel) and its answer
    is relayed as sent, naming the deployment's model."""
    if up.provider in ("anthropic", "bedrock"):
        return CLOUD_MODELS[up.text_model][1]
    return up.text_model


def _client(gw: IngressGateway, **auth) -> anthropic.Anthropic:
    auth = auth or {"api_key": gw.key}
    return anthropic.Anthropic(base_url=gw.root_url, max_retries=0, timeout=30.0, **auth)



@pytest.fixture(scope="module")
def client(ingress_gateway: IngressGateway):
    c = _client(ingress_gateway)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch):
    """Only the credentials a test gives: none from the environment."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_messages_create(client: anthropic.Anthropic, upstream: str):
    up: Upstream = UPSTREAMS[upstream]
    raw = client.messages.with_raw_response.create(
        model=up.text_model, max_tokens=MAX_TOKENS, messages=USER
    )
    assert raw.headers.get("x-switchyard-provider") == up.provider
    message = raw.parse()
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.id
    assert message.model == answered_model(up)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == up.text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_messages_stream_events(client: anthropic.Anthropic, upstream: str):
    up = UPSTREAMS[upstream]
    kinds, text = [], ""
    with client.messages.stream(model=up.text_model, max_tokens=MAX_TOKENS, messages=USER) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "content_block_delta":
                assert event.delta.type == "text_delta"
                text += event.delta.text
        final = stream.get_final_message()
    assert text == up.streamed_text
    # The wire events in Anthropic's order (the SDK adds its own `text` events in between).
    wire = [k for k in kinds if k != "text"]
    assert wire[0] == "message_start"
    assert wire[1] == "content_block_start"
    assert wire[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(wire[2:-3]) == {"content_block_delta"}
    assert "text" in kinds
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].text == up.streamed_text
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_messages_stream_text_stream(client: anthropic.Anthropic, upstream: str):
    up = UPSTREAMS[upstream]
    with client.messages.stream(model=up.text_model, max_tokens=MAX_TOKENS, messages=USER) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) >= 1
    assert "".join(pieces) == up.streamed_text
    assert final.content[0].text == up.streamed_text
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_messages_create_stream_true(client: anthropic.Anthropic, upstream: str):
    """The low-level `stream=True` iterator, without the helper's accumulation."""
    up = UPSTREAMS[upstream]
    events = list(
        client.messages.create(model=up.text_model, max_tokens=MAX_TOKENS, messages=USER, stream=True)
    )
    assert events[0].type == "message_start"
    assert events[0].message.role == "assistant"
    assert events[-1].type == "message_stop"
    deltas = [e for e in events if e.type == "message_delta"]
    assert len(deltas) == 1
    assert deltas[0].delta.stop_reason == "end_turn"
    assert deltas[0].usage.output_tokens > 0
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == up.streamed_text


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_system_prompt_and_sampling_settings(client: anthropic.Anthropic, upstream: str):
    up = UPSTREAMS[upstream]
    message = client.messages.create(
        model=up.text_model,
        max_tokens=MAX_TOKENS,
        system=[{"type": "text", "text": "Be brief."}],
        stop_sequences=["END"],
        # Sampling settings older SDKs send (this one has no parameter for them).
        extra_body={"temperature": 0.2, "top_k": 40},
        metadata={"user_id": "sdk-test"},
        messages=[
            {"role": "user", "content": "Hi."},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": [{"type": "text", "text": "Say hello."}]},
        ],
    )
    assert message.content[0].text == up.text
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_an_inline_image(client: anthropic.Anthropic, upstream: str):
    up = UPSTREAMS[upstream]
    image = {"type": "base64", "media_type": "image/png", "data": PNG_BASE64}
    message = client.messages.create(
        model=up.text_model,
        max_tokens=MAX_TOKENS,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": image},
                    {"type": "text", "text": "What is in this picture?"},
                ],
            }
        ],
    )
    assert message.content[0].text == up.text


def test_async_client_streams(ingress_gateway: IngressGateway):
    import asyncio

    async def run() -> tuple[str, str]:
        async with anthropic.AsyncAnthropic(
            base_url=ingress_gateway.root_url, api_key=ingress_gateway.key, max_retries=0
        ) as client:
            up = UPSTREAMS["gemini"]
            async with client.messages.stream(
                model=up.text_model, max_tokens=MAX_TOKENS, messages=USER
            ) as stream:
                text = "".join([piece async for piece in stream.text_stream])
                final = await stream.get_final_message()
            return text, final.content[0].text

    text, final = asyncio.run(run())
    assert text == final == UPSTREAMS["gemini"].streamed_text


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_tool_use_round_trip(client: anthropic.Anthropic, upstream: str):
    up = UPSTREAMS[upstream]
    asked = client.messages.create(
        model=up.tool_model, max_tokens=MAX_TOKENS, messages=WEATHER, tools=[WEATHER_TOOL]
    )
    assert asked.stop_reason == "tool_use"
    calls = [block for block in asked.content if block.type == "tool_use"]
    assert len(calls) == 1
    call = calls[0]
    assert call.id
    assert call.name == "get_weather"
    assert call.input == up.arguments
    assert asked.usage.input_tokens > 0 and asked.usage.output_tokens > 0

    # The call and its result go back (to the same upstream's text model, which answers text
    # whatever the history: the fakes answer a tool model with a call on every turn).
    history = [
        *WEATHER,
        {"role": "assistant", "content": [block.model_dump() for block in asked.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21 C"}],
        },
    ]
    answered = client.messages.create(
        model=up.text_model, max_tokens=MAX_TOKENS, messages=history, tools=[WEATHER_TOOL]
    )
    assert answered.stop_reason == "end_turn"
    assert answered.content[0].type == "text"
    assert answered.content[0].text == up.text


@pytest.mark.parametrize(
    "tool_choice",
    [{"type": "any"}, {"type": "tool", "name": "get_weather"}],
    ids=["any", "named"],
)
@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_tool_choice(client: anthropic.Anthropic, upstream: str, tool_choice: dict):
    up = UPSTREAMS[upstream]
    asked = client.messages.create(
        model=up.tool_model,
        max_tokens=MAX_TOKENS,
        messages=WEATHER,
        tools=[WEATHER_TOOL],
        tool_choice=tool_choice,
    )
    assert asked.stop_reason == "tool_use"
    assert [b.input for b in asked.content if b.type == "tool_use"] == [up.arguments]


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_tool_use_streamed(client: anthropic.Anthropic, upstream: str):
    up = UPSTREAMS[upstream]
    partial = ""
    with client.messages.stream(
        model=up.tool_model, max_tokens=MAX_TOKENS, messages=WEATHER, tools=[WEATHER_TOOL]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partial += event.delta.partial_json
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    calls = [block for block in final.content if block.type == "tool_use"]
    assert len(calls) == 1
    assert calls[0].id
    assert calls[0].name == "get_weather"
    assert calls[0].input == up.arguments
    assert partial, "the arguments arrive as input_json_delta events"


def test_parallel_calls_that_interleave_stream_one_after_another(client: anthropic.Anthropic):
    """An OpenAI-compatible upstream interleaves two calls' argument fragments; the SDK's stream
    sees each call as its own block, whole, one after another."""
    time_tool = {
        "name": "get_time",
        "description": "Current time in a zone.",
        "input_schema": {"type": "object", "properties": {"tz": {"type": "string"}}},
    }
    with client.messages.stream(
        model="mock-parallel-tools",
        max_tokens=MAX_TOKENS,
        messages=WEATHER,
        tools=[WEATHER_TOOL, time_tool],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    calls = [(block.name, block.input) for block in final.content if block.type == "tool_use"]
    assert calls == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Rome"})]


# --------------------------------------------------------------------------------------------
# Token counting
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_count_tokens(client: anthropic.Anthropic, upstream: str):
    up = UPSTREAMS[upstream]
    raw = client.messages.with_raw_response.count_tokens(model=up.text_model, messages=USER)
    counted = raw.parse()
    assert counted.input_tokens > 0
    if upstream == "anthropic":
        # Anthropic's own count, passed through (the fake counts 25 for its text model).
        assert counted.input_tokens == 25
        assert raw.headers.get("x-switchyard-estimated") is None
    else:
        assert raw.headers.get("x-switchyard-estimated") == "true"


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_count_tokens_with_tools_and_system(client: anthropic.Anthropic, upstream: str):
    up = UPSTREAMS[upstream]
    plain = client.messages.count_tokens(model=up.text_model, messages=WEATHER)
    more = client.messages.count_tokens(
        model=up.text_model, messages=WEATHER, tools=[WEATHER_TOOL], system="Be brief."
    )
    assert more.input_tokens > 0
    if upstream != "anthropic":  # the fake Anthropic counts a fixed 25
        assert more.input_tokens > plain.input_tokens


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _anthropic_error_body(error: anthropic.APIStatusError, kind: str) -> None:
    body = error.body
    assert isinstance(body, dict), body
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert body["error"]["message"]
    assert body["request_id"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_unknown_model_is_not_found(client: anthropic.Anthropic, stream: bool):
    with pytest.raises(anthropic.NotFoundError) as raised:
        result = client.messages.create(
            model="no-such-model", max_tokens=MAX_TOKENS, messages=USER, stream=stream
        )
        if stream:
            list(result)
    assert raised.value.status_code == 404
    _anthropic_error_body(raised.value, "not_found_error")
    assert raised.value.request_id == raised.value.body["request_id"]


@pytest.mark.parametrize(
    ("model", "exception", "status", "kind"),
    [
        # Anthropic's own 529 from upstream stays a 529 overloaded_error.
        ("claude-overloaded", anthropic.OverloadedError, 529, "overloaded_error"),
        # Bedrock's ThrottlingException and Gemini's RESOURCE_EXHAUSTED: rate limits.
        ("bedrock-throttled", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("gemini-exhausted", anthropic.RateLimitError, 429, "rate_limit_error"),
        # An OpenAI-dialect 400 is the caller's own fault.
        ("mock-error-400", anthropic.BadRequestError, 400, "invalid_request_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_upstream_refusals_raise_the_sdk_classes(
    client: anthropic.Anthropic, model: str, exception: type, status: int, kind: str, stream: bool
):
    with pytest.raises(exception) as raised:
        result = client.messages.create(
            model=model, max_tokens=MAX_TOKENS, messages=USER, stream=stream
        )
        if stream:
            list(result)
    assert type(raised.value) is exception
    assert raised.value.status_code == status
    _anthropic_error_body(raised.value, kind)


def test_throttling_carries_retry_after(client: anthropic.Anthropic):
    """Gemini's retryDelay of 7s reaches the caller as retry-after, as on the chat lane."""
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(model="gemini-exhausted", max_tokens=MAX_TOKENS, messages=USER)
    assert raised.value.response.headers.get("retry-after") == "7"


def test_count_tokens_for_an_unknown_model_is_not_found(client: anthropic.Anthropic):
    with pytest.raises(anthropic.NotFoundError) as raised:
        client.messages.count_tokens(model="no-such-model", messages=USER)
    _anthropic_error_body(raised.value, "not_found_error")


WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}


def test_a_server_tool_for_a_model_off_anthropic_is_a_bad_request(client: anthropic.Anthropic):
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(
            model=UPSTREAMS["gemini"].text_model,
            max_tokens=MAX_TOKENS,
            messages=USER,
            tools=[WEB_SEARCH],
        )
    _anthropic_error_body(raised.value, "invalid_request_error")
    assert "web_search" in raised.value.body["error"]["message"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_server_tool_reaches_a_model_on_anthropic(client: anthropic.Anthropic, stream: bool):
    up = UPSTREAMS["anthropic"]
    if stream:
        with client.messages.stream(
            model=up.text_model, max_tokens=MAX_TOKENS, messages=USER, tools=[WEB_SEARCH]
        ) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(
            model=up.text_model, max_tokens=MAX_TOKENS, messages=USER, tools=[WEB_SEARCH]
        )
    assert message.content[0].text == up.text


def test_a_model_the_key_may_not_use_is_a_permission_error(ingress_gateway: IngressGateway):
    minted = ingress_gateway.admin(
        "POST", "/admin/v1/keys", {"tenant": "sdk-ingress-narrow", "models": ["claude-via-anthropic"]}
    )
    with _client(ingress_gateway, api_key=minted["key"]) as client:
        client.messages.create(model="claude-via-anthropic", max_tokens=MAX_TOKENS, messages=USER)
        with pytest.raises(anthropic.PermissionDeniedError) as raised:
            client.messages.create(model="gemini-direct", max_tokens=MAX_TOKENS, messages=USER)
    assert raised.value.status_code == 403
    _anthropic_error_body(raised.value, "permission_error")


def test_a_spent_budget_is_not_retried(ingress_gateway: IngressGateway):
    # With max_tokens 4,096 at $2 per million output tokens the hold is far over $0.00001.
    minted = ingress_gateway.admin(
        "POST", "/admin/v1/keys", {"tenant": "sdk-ingress-budget-a", "budget_usd": "0.00001"}
    )
    with anthropic.Anthropic(
        base_url=ingress_gateway.root_url, api_key=minted["key"], max_retries=3, timeout=30.0
    ) as client:
        with pytest.raises(anthropic.RateLimitError) as raised:
            client.messages.create(model="mock-chat", max_tokens=4096, messages=USER)
    error = raised.value
    assert error.status_code == 429
    _anthropic_error_body(error, "rate_limit_error")
    assert error.response.headers.get("x-should-retry") == "false"
    assert error.response.request.headers.get("x-stainless-retry-count") == "0"
    assert error.body["error"]["details"]["error_code"] == "enforced_spend_limit_reached"


def test_overloaded_is_a_server_error_the_sdk_retries(ingress_gateway: IngressGateway):
    """529 is an InternalServerError subclass, and the SDK retries it (then gives up)."""
    with anthropic.Anthropic(
        base_url=ingress_gateway.root_url, api_key=ingress_gateway.key, max_retries=1, timeout=30.0
    ) as client:
        with pytest.raises(anthropic.InternalServerError) as raised:
            client.messages.create(model="claude-overloaded", max_tokens=MAX_TOKENS, messages=USER)
        raw = raised.value.response
    assert raised.value.status_code == 529
    assert raw.request.headers.get("x-stainless-retry-count") == "1"


def test_a_malformed_request_is_a_bad_request(client: anthropic.Anthropic):
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(
            model=UPSTREAMS["anthropic"].text_model,
            max_tokens=MAX_TOKENS,
            messages=[{"role": "user", "content": [{"type": "text"}]}],
        )
    assert raised.value.status_code == 400
    _anthropic_error_body(raised.value, "invalid_request_error")


def test_a_block_only_anthropic_knows_is_refused_for_a_model_elsewhere(client: anthropic.Anthropic):
    # An Anthropic model would get the block as sent (and judge it); no other provider can.
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(
            model=UPSTREAMS["openai"].text_model,
            max_tokens=MAX_TOKENS,
            messages=[{"role": "user", "content": [{"type": "no-such-block", "text": "hi"}]}],
        )
    assert raised.value.status_code == 400
    _anthropic_error_body(raised.value, "invalid_request_error")
    assert "no-such-block" in str(raised.value.body), raised.value.body


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        # Anthropic's `event: error` relayed as it came.
        ("claude-stream-overloaded", "overloaded_error"),
        # Bedrock's throttlingException frame, in Anthropic's words.
        ("bedrock-stream-throttled", "rate_limit_error"),
    ],
)
def test_a_mid_stream_failure_is_an_error_event(client: anthropic.Anthropic, model: str, kind: str):
    text = ""
    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(model=model, max_tokens=MAX_TOKENS, messages=USER) as stream:
            for piece in stream.text_stream:
                text += piece
    # The stream had begun (200) and delivered the first piece before the error event.
    assert raised.value.status_code == 200
    assert text == "Hello"
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "error", body
    assert body["error"]["type"] == kind
    assert body["error"]["message"]


# --------------------------------------------------------------------------------------------
# Authentication in keys mode
# --------------------------------------------------------------------------------------------


def _auth(how: str, key: str) -> dict:
    """Client arguments for each way of presenting a key. This SDK sends `api_key` as a Bearer
    token too; `x-api-key` (what older SDKs and curl send) is given as a header of its own."""
    if how == "api_key":
        return {"api_key": key}
    if how == "auth_token":
        return {"auth_token": key}
    return {"default_headers": {"x-api-key": key}}


AUTH_WAYS = ["api_key", "auth_token", "x-api-key"]


@pytest.mark.parametrize("how", AUTH_WAYS)
def test_a_minted_key_works_every_way(ingress_gateway: IngressGateway, how: str):
    key = ingress_gateway.key
    with _client(ingress_gateway, **_auth(how, key)) as client:
        raw = client.messages.with_raw_response.create(
            model=UPSTREAMS["anthropic"].text_model, max_tokens=MAX_TOKENS, messages=USER
        )
        sent = raw.http_request.headers
        if how == "x-api-key":
            assert sent.get("x-api-key") == key
            assert "authorization" not in sent
        else:
            assert key in (sent.get("x-api-key"), sent.get("authorization", "").removeprefix("Bearer "))
        assert raw.parse().content[0].text == UPSTREAMS["anthropic"].text
        counted = client.messages.count_tokens(
            model=UPSTREAMS["anthropic"].text_model, messages=USER
        )
        assert counted.input_tokens > 0


@pytest.mark.parametrize("how", AUTH_WAYS)
def test_a_wrong_key_is_an_authentication_error(ingress_gateway: IngressGateway, how: str):
    with _client(ingress_gateway, **_auth(how, "sk-sy-this-is-not-a-key")) as client:
        with pytest.raises(anthropic.AuthenticationError) as raised:
            client.messages.create(
                model=UPSTREAMS["anthropic"].text_model, max_tokens=MAX_TOKENS, messages=USER
            )
    assert raised.value.status_code == 401
    _anthropic_error_body(raised.value, "authentication_error")


def test_no_key_at_all_is_an_authentication_error(ingress_gateway: IngressGateway):
    no_auth = {"default_headers": {"Authorization": anthropic.Omit()}}
    with _client(ingress_gateway, **no_auth) as client:
        with pytest.raises(anthropic.AuthenticationError) as raised:
            raw = client.messages.with_raw_response.create(
                model=UPSTREAMS["anthropic"].text_model, max_tokens=MAX_TOKENS, messages=USER
            )
            raise AssertionError(f"answered without a key: {raw.http_request.headers}")
    sent = raised.value.response.request.headers
    assert "authorization" not in sent and "x-api-key" not in sent
    assert raised.value.status_code == 401
    _anthropic_error_body(raised.value, "authentication_error")


def test_over_https(ingress_gateway_tls: IngressGateway):
    """The same lane through the gateway's TLS listener, trusting its throwaway certificate."""
    gw = ingress_gateway_tls
    http = anthropic.DefaultHttpxClient(verify=ssl.create_default_context(cafile=str(gw.ca)))
    with anthropic.Anthropic(
        base_url=gw.root_url, api_key=gw.key, max_retries=0, timeout=30.0, http_client=http
    ) as client:
        up = UPSTREAMS["bedrock"]
        message = client.messages.create(model=up.text_model, max_tokens=MAX_TOKENS, messages=USER)
        assert message.content[0].text == up.text
        with client.messages.stream(model=up.text_model, max_tokens=MAX_TOKENS, messages=USER) as s:
            assert "".join(s.text_stream) == up.streamed_text
