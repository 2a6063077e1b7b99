"""boto3's `bedrock-runtime` client against Switchyard's Bedrock Runtime ingress
(`/model/{modelId}/converse|converse-stream|invoke|invoke-with-response-stream`, the model id being
a gateway model name), in front of every upstream dialect: sy-mock-upstream (OpenAI) and the fake
Anthropic, Bedrock and Gemini APIs of sy-fake-clouds.

Converse and ConverseStream (text and a tool round trip), InvokeModel with an Anthropic-on-Bedrock
body and with an OpenAI chat body, whole and streamed; boto3 signing with SigV4 with a
gateway-issued access key pair (over http), and sending a bearer token from
`AWS_BEARER_TOKEN_BEDROCK` (which boto3 does only over https: a gateway with a throwaway
certificate). Errors arrive as botocore's ClientError / EventStreamError with Bedrock's codes.
"""

from __future__ import annotations

import base64
import json
import time

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError, EventStreamError

from conftest import BEDROCK_NAMED_MODEL, CLOUD_TEXT, PNG_BASE64, UPSTREAMS, IngressGateway, Upstream

REGION = "us-east-1"
USER = [{"role": "user", "content": [{"text": "Say hello."}]}]
WEATHER = [{"role": "user", "content": [{"text": "What is the weather in Paris?"}]}]
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
    "required": ["city"],
}
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "inputSchema": {"json": WEATHER_SCHEMA},
            }
        }
    ]
}
ANTHROPIC_VERSION = "bedrock-2023-05-31"
UPSTREAM_IDS = list(UPSTREAMS)
# No retries: a refusal is asserted on, not waited out.
NO_RETRIES = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Only the credentials and endpoints a test gives: nothing from the environment or ~/.aws."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
        "AWS_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _sigv4_client(gw: IngressGateway, secret: str | None = None, access_key_id: str | None = None):
    return boto3.session.Session().client(
        "bedrock-runtime",
        endpoint_url=gw.root_url,
        region_name=REGION,
        aws_access_key_id=access_key_id or gw.access_key_id,
        aws_secret_access_key=secret or gw.secret_access_key,
        config=NO_RETRIES,
    )


@pytest.fixture
def client(ingress_gateway: IngressGateway):
    """SigV4 with the gateway-issued access key pair, over plain http."""
    c = _sigv4_client(ingress_gateway)
    yield c
    c.close()


def _error(raised: pytest.ExceptionInfo) -> tuple[str, int, str]:
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def _assert_blocks_well_formed(events: list[dict]) -> None:
    """Every content block's events carry its index, and each block ends with one stop."""
    opened: list[int] = []
    stopped: list[int] = []
    for event in events:
        (kind, body), = event.items()
        if kind in ("contentBlockStart", "contentBlockDelta"):
            index = body["contentBlockIndex"]
            assert index not in stopped, f"{kind} after its block stopped: {events}"
            if index not in opened:
                opened.append(index)
        elif kind == "contentBlockStop":
            stopped.append(body["contentBlockIndex"])
    assert opened == stopped == list(range(len(opened))), events


# --------------------------------------------------------------------------------------------
# Converse
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_converse(client, upstream: str):
    up: Upstream = UPSTREAMS[upstream]
    answer = client.converse(modelId=up.text_model, messages=USER)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answer["ResponseMetadata"]["HTTPHeaders"].get("x-switchyard-provider") == up.provider
    message = answer["output"]["message"]
    assert message["role"] == "assistant"
    assert message["content"] == [{"text": up.text}]
    assert answer["stopReason"] == "end_turn"
    usage = answer["usage"]
    assert usage["inputTokens"] > 0
    assert usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert answer["metrics"]["latencyMs"] >= 0


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_converse_stream(client, upstream: str):
    up = UPSTREAMS[upstream]
    answer = client.converse_stream(modelId=up.text_model, messages=USER)
    events = list(answer["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart"
    assert events[0]["messageStart"]["role"] == "assistant"
    assert "contentBlockDelta" in kinds
    assert kinds[-2:] == ["messageStop", "metadata"]
    _assert_blocks_well_formed(events)
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == up.streamed_text
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    usage = events[-1]["metadata"]["usage"]
    assert events[-1]["metadata"]["metrics"]["latencyMs"] >= 0
    assert usage["inputTokens"] > 0
    assert usage["outputTokens"] > 0
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_converse_tool_round_trip(client, upstream: str):
    up = UPSTREAMS[upstream]
    asked = client.converse(modelId=up.tool_model, messages=WEATHER, toolConfig=TOOL_CONFIG)
    assert asked["stopReason"] == "tool_use"
    message = asked["output"]["message"]
    calls = [block["toolUse"] for block in message["content"] if "toolUse" in block]
    assert len(calls) == 1
    call = calls[0]
    assert call["toolUseId"]
    assert call["name"] == "get_weather"
    assert call["input"] == up.arguments

    # The call and its result go back (to the same upstream's text model: the fakes answer a
    # tool model with a call on every turn).
    history = [
        *WEATHER,
        message,
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": call["toolUseId"],
                        "content": [{"text": "sunny, 21 C"}],
                        "status": "success",
                    }
                }
            ],
        },
    ]
    answered = client.converse(modelId=up.text_model, messages=history, toolConfig=TOOL_CONFIG)
    assert answered["stopReason"] == "end_turn"
    assert answered["output"]["message"]["content"] == [{"text": up.text}]


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_converse_stream_tool_use(client, upstream: str):
    up = UPSTREAMS[upstream]
    answer = client.converse_stream(modelId=up.tool_model, messages=WEATHER, toolConfig=TOOL_CONFIG)
    events = list(answer["stream"])
    _assert_blocks_well_formed(events)
    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert len(starts) == 1
    tool_use = starts[0]["start"]["toolUse"]
    assert tool_use["toolUseId"]
    assert tool_use["name"] == "get_weather"
    arguments = "".join(
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e
    )
    assert json.loads(arguments) == up.arguments
    stops = [e["messageStop"]["stopReason"] for e in events if "messageStop" in e]
    assert stops == ["tool_use"]


def test_converse_stream_parallel_calls_that_interleave(client):
    """An OpenAI-compatible upstream interleaves two calls' argument fragments; ConverseStream
    gives each call its own block, one after another, with whole input."""
    time_tool = {
        "toolSpec": {
            "name": "get_time",
            "description": "Current time in a zone.",
            "inputSchema": {"json": {"type": "object", "properties": {"tz": {"type": "string"}}}},
        }
    }
    tools = {"tools": TOOL_CONFIG["tools"] + [time_tool]}
    answer = client.converse_stream(
        modelId="mock-parallel-tools", messages=WEATHER, toolConfig=tools
    )
    events = list(answer["stream"])
    _assert_blocks_well_formed(events)
    calls: dict[int, list] = {}
    for event in events:
        if "contentBlockStart" in event:
            body = event["contentBlockStart"]
            calls[body["contentBlockIndex"]] = [body["start"]["toolUse"]["name"], ""]
        elif "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            calls[body["contentBlockIndex"]][1] += body["delta"]["toolUse"]["input"]
    assert [(name, json.loads(args)) for name, args in calls.values()] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "Europe/Rome"}),
    ]
    stops = [e["messageStop"]["stopReason"] for e in events if "messageStop" in e]
    assert stops == ["tool_use"]


# --------------------------------------------------------------------------------------------
# InvokeModel
# --------------------------------------------------------------------------------------------


def _anthropic_body(**extra) -> bytes:
    return json.dumps(
        {
            "anthropic_version": ANTHROPIC_VERSION,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Say hello."}],
            **extra,
        }
    ).encode()


def _chat_body() -> bytes:
    return json.dumps(
        {"messages": [{"role": "user", "content": "Say hello."}], "max_completion_tokens": 256}
    ).encode()


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_invoke_model_anthropic_body(client, upstream: str):
    up = UPSTREAMS[upstream]
    answer = client.invoke_model(
        modelId=up.text_model,
        body=_anthropic_body(),
        contentType="application/json",
        accept="application/json",
    )
    assert answer["contentType"].startswith("application/json")
    body = json.loads(answer["body"].read())
    assert body["type"] == "message"
    assert body["role"] == "assistant"
    assert body["content"] == [{"type": "text", "text": up.text}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"]["input_tokens"] > 0
    assert body["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_invoke_model_chat_body(client, upstream: str):
    up = UPSTREAMS[upstream]
    answer = client.invoke_model(modelId=up.text_model, body=_chat_body())
    body = json.loads(answer["body"].read())
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == up.text
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] > 0
    assert body["usage"]["completion_tokens"] > 0


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_invoke_model_with_response_stream_anthropic_body(client, upstream: str):
    up = UPSTREAMS[upstream]
    answer = client.invoke_model_with_response_stream(modelId=up.text_model, body=_anthropic_body())
    events = [json.loads(part["chunk"]["bytes"]) for part in answer["body"]]
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == up.streamed_text
    stops = [e["delta"]["stop_reason"] for e in events if e["type"] == "message_delta"]
    assert stops == ["end_turn"]
    # Bedrock's own counts ride on the last event.
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] > 0
    assert metrics["outputTokenCount"] > 0


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_invoke_model_with_response_stream_chat_body(client, upstream: str):
    up = UPSTREAMS[upstream]
    answer = client.invoke_model_with_response_stream(modelId=up.text_model, body=_chat_body())
    chunks = [json.loads(part["chunk"]["bytes"]) for part in answer["body"]]
    assert chunks
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(
        (c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices")
    )
    assert text == up.streamed_text
    finishes = [
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c.get("choices") and c["choices"][0].get("finish_reason")
    ]
    assert finishes == ["stop"]
    usages = [c["usage"] for c in chunks if c.get("usage")]
    assert usages and usages[-1]["completion_tokens"] > 0
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] > 0
    assert metrics["outputTokenCount"] == usages[-1]["completion_tokens"]


# --------------------------------------------------------------------------------------------
# Authentication: SigV4 and bearer tokens
# --------------------------------------------------------------------------------------------


def test_sigv4_with_a_wrong_secret_is_an_invalid_signature(ingress_gateway: IngressGateway):
    client = _sigv4_client(ingress_gateway, secret="not-the-secret-" + "x" * 25)
    with pytest.raises(ClientError) as raised:
        client.converse(modelId=UPSTREAMS["anthropic"].text_model, messages=USER)
    code, status, message = _error(raised)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message


def test_sigv4_with_an_unknown_access_key_is_unrecognized(ingress_gateway: IngressGateway):
    client = _sigv4_client(ingress_gateway, access_key_id="AKIAUNKNOWNKEY000000")
    with pytest.raises(ClientError) as raised:
        client.converse(modelId=UPSTREAMS["anthropic"].text_model, messages=USER)
    code, status, _ = _error(raised)
    assert (code, status) == ("UnrecognizedClientException", 403)


def test_sigv4_signs_streaming_operations_too(client):
    answer = client.converse_stream(modelId=UPSTREAMS["bedrock"].text_model, messages=USER)
    assert any("messageStop" in event for event in answer["stream"])
    streamed = client.invoke_model_with_response_stream(
        modelId=UPSTREAMS["bedrock"].text_model, body=_anthropic_body()
    )
    assert [json.loads(p["chunk"]["bytes"])["type"] for p in streamed["body"]][-1] == "message_stop"


def _bearer_client(gw: IngressGateway, monkeypatch: pytest.MonkeyPatch, token: str):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", token)
    return boto3.session.Session().client(
        "bedrock-runtime",
        endpoint_url=gw.root_url,
        region_name=REGION,
        verify=str(gw.ca),
        config=NO_RETRIES,
    )


def test_bearer_token_over_https(ingress_gateway_tls: IngressGateway, monkeypatch):
    gw = ingress_gateway_tls
    assert gw.root_url.startswith("https://")
    client = _bearer_client(gw, monkeypatch, gw.key)
    sent = []
    client.meta.events.register(
        "before-send.bedrock-runtime.*", lambda request, **_: sent.append(request.headers)
    )
    up = UPSTREAMS["anthropic"]
    answer = client.converse(modelId=up.text_model, messages=USER)
    assert answer["output"]["message"]["content"] == [{"text": up.text}]
    streamed = client.converse_stream(modelId=up.text_model, messages=USER)
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in streamed["stream"] if "contentBlockDelta" in e
    )
    assert text == up.streamed_text
    invoked = json.loads(client.invoke_model(modelId=up.text_model, body=_anthropic_body())["body"].read())
    assert invoked["content"][0]["text"] == up.text
    # boto3 really sent the token, not a signature.
    assert sent and all(
        h["Authorization"] in (f"Bearer {gw.key}", f"Bearer {gw.key}".encode()) for h in sent
    )


def test_a_wrong_bearer_token_is_refused(ingress_gateway_tls: IngressGateway, monkeypatch):
    client = _bearer_client(ingress_gateway_tls, monkeypatch, "sk-sy-this-is-not-a-key")
    with pytest.raises(ClientError) as raised:
        client.converse(modelId=UPSTREAMS["anthropic"].text_model, messages=USER)
    code, status, _ = _error(raised)
    assert (code, status) == ("UnrecognizedClientException", 403)


def test_boto3_sends_no_bearer_token_over_plain_http(ingress_gateway: IngressGateway, monkeypatch):
    """Why the bearer tests need the https gateway: boto3 refuses before sending anything."""
    from botocore.exceptions import InvalidEndpointConfigurationError

    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", ingress_gateway.key)
    client = boto3.session.Session().client(
        "bedrock-runtime", endpoint_url=ingress_gateway.root_url, region_name=REGION, config=NO_RETRIES
    )
    with pytest.raises(InvalidEndpointConfigurationError):
        client.converse(modelId=UPSTREAMS["anthropic"].text_model, messages=USER)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "code", "status"),
    [
        ("no-such-model", "ResourceNotFoundException", 404),
        ("bedrock-throttled", "ThrottlingException", 429),
        ("gemini-exhausted", "ThrottlingException", 429),
        # Anthropic's 529 overloaded: the service is unavailable for now.
        ("claude-overloaded", "ServiceUnavailableException", 503),
        ("mock-error-400", "ValidationException", 400),
    ],
)
@pytest.mark.parametrize("operation", ["converse", "converse_stream", "invoke_model"])
def test_refusals_are_client_errors_with_bedrock_codes(
    client, model: str, code: str, status: int, operation: str
):
    with pytest.raises(ClientError) as raised:
        if operation == "invoke_model":
            client.invoke_model(modelId=model, body=_anthropic_body())
        else:
            answer = getattr(client, operation)(modelId=model, messages=USER)
            if operation == "converse_stream":
                list(answer["stream"])
    assert not isinstance(raised.value, EventStreamError), "refused before the stream began"
    got_code, got_status, message = _error(raised)
    assert (got_code, got_status) == (code, status)
    assert message
    headers = raised.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-amzn-errortype", "").startswith(code)


def test_an_invalid_body_is_a_validation_exception(client):
    with pytest.raises(ClientError) as raised:
        client.invoke_model(
            modelId=UPSTREAMS["anthropic"].text_model,
            body=_anthropic_body(anthropic_version="bedrock-1999-01-01"),
        )
    code, status, message = _error(raised)
    assert (code, status) == ("ValidationException", 400)
    assert "anthropic_version" in message


@pytest.mark.parametrize(
    ("model", "code"),
    [
        # Bedrock's own throttlingException frame, relayed.
        ("bedrock-stream-throttled", "throttlingException"),
        # Anthropic's `event: error` overloaded_error, as a ConverseStream exception frame.
        ("claude-stream-overloaded", "serviceUnavailableException"),
    ],
)
def test_a_mid_stream_failure_is_an_event_stream_error(client, model: str, code: str):
    answer = client.converse_stream(modelId=model, messages=USER)
    text = ""
    with pytest.raises(EventStreamError) as raised:
        for event in answer["stream"]:
            if "contentBlockDelta" in event:
                text += event["contentBlockDelta"]["delta"]["text"]
    assert text == "Hello", "the first piece arrived before the failure"
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["Error"]["Message"]


def test_a_mid_stream_failure_in_invoke_with_response_stream(client):
    answer = client.invoke_model_with_response_stream(
        modelId="bedrock-stream-throttled", body=_anthropic_body()
    )
    kinds = []
    with pytest.raises(EventStreamError) as raised:
        for part in answer["body"]:
            kinds.append(json.loads(part["chunk"]["bytes"])["type"])
    assert kinds[0] == "message_start"
    assert "message_stop" not in kinds
    assert raised.value.response["Error"]["Code"] == "throttlingException"


# --------------------------------------------------------------------------------------------
# More of the request: system prompts, inference settings, tools through InvokeModel
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_converse_with_system_and_inference_config(client, upstream: str):
    up = UPSTREAMS[upstream]
    answer = client.converse(
        modelId=up.text_model,
        system=[{"text": "Be brief."}],
        messages=USER,
        inferenceConfig={"maxTokens": 128, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
    )
    assert answer["output"]["message"]["content"] == [{"text": up.text}]
    assert answer["ResponseMetadata"]["RequestId"], "x-amzn-requestid reaches boto3"


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_converse_with_tool_choice_and_model_fields(client, upstream: str):
    up = UPSTREAMS[upstream]
    answer = client.converse(
        modelId=up.tool_model,
        messages=WEATHER,
        toolConfig={**TOOL_CONFIG, "toolChoice": {"tool": {"name": "get_weather"}}},
        additionalModelRequestFields={"top_k": 40},
        requestMetadata={"team": "sdk-tests"},
    )
    assert answer["stopReason"] == "tool_use"
    calls = [b["toolUse"] for b in answer["output"]["message"]["content"] if "toolUse" in b]
    assert [c["input"] for c in calls] == [up.arguments]


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_invoke_stream_anthropic_body_tool_use(client, upstream: str):
    up = UPSTREAMS[upstream]
    tool = {"name": "get_weather", "description": "Weather.", "input_schema": WEATHER_SCHEMA}
    body = json.dumps(
        {
            "anthropic_version": ANTHROPIC_VERSION,
            "max_tokens": 256,
            "tools": [tool],
            "tool_choice": {"type": "any"},
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        }
    )
    answer = client.invoke_model_with_response_stream(modelId=up.tool_model, body=body)
    events = [json.loads(part["chunk"]["bytes"]) for part in answer["body"]]
    starts = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    assert [s["type"] for s in starts] == ["tool_use"]
    assert starts[0]["name"] == "get_weather" and starts[0]["id"]
    partial = "".join(
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    )
    assert json.loads(partial) == up.arguments
    stops = [e["delta"]["stop_reason"] for e in events if e["type"] == "message_delta"]
    assert stops == ["tool_use"]


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_converse_with_an_inline_image(client, upstream: str):
    up = UPSTREAMS[upstream]
    image = {"image": {"format": "png", "source": {"bytes": base64.b64decode(PNG_BASE64)}}}
    answer = client.converse(
        modelId=up.text_model,
        messages=[{"role": "user", "content": [image, {"text": "What is in this picture?"}]}],
    )
    assert answer["output"]["message"]["content"] == [{"text": up.text}]


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_invoke_model_anthropic_body_tool_use(client, upstream: str):
    up = UPSTREAMS[upstream]
    tool = {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": WEATHER_SCHEMA,
    }
    body = json.dumps(
        {
            "anthropic_version": ANTHROPIC_VERSION,
            "max_tokens": 256,
            "tools": [tool],
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        }
    )
    answer = json.loads(client.invoke_model(modelId=up.tool_model, body=body)["body"].read())
    assert answer["stop_reason"] == "tool_use"
    calls = [block for block in answer["content"] if block["type"] == "tool_use"]
    assert len(calls) == 1
    assert calls[0]["id"]
    assert calls[0]["name"] == "get_weather"
    assert calls[0]["input"] == up.arguments


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_invoke_model_chat_body_tool_calls(client, upstream: str):
    up = UPSTREAMS[upstream]
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": WEATHER_SCHEMA,
        },
    }
    body = json.dumps(
        {"messages": [{"role": "user", "content": "What is the weather in Paris?"}], "tools": [tool]}
    )
    answer = json.loads(client.invoke_model(modelId=up.tool_model, body=body)["body"].read())
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert len(calls) == 1
    assert calls[0]["id"]
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == up.arguments


def test_throttling_carries_retry_after(client):
    """Gemini's retryDelay of 7s reaches the caller as Retry-After, as on the chat lane."""
    with pytest.raises(ClientError) as raised:
        client.converse(modelId="gemini-exhausted", messages=USER)
    headers = raised.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("retry-after") == "7"


# --------------------------------------------------------------------------------------------
# A key's own limits, in Bedrock's words
# --------------------------------------------------------------------------------------------


def test_a_model_the_key_may_not_use_is_access_denied(ingress_gateway: IngressGateway):
    minted = ingress_gateway.admin(
        "POST",
        "/admin/v1/keys",
        {"tenant": "sdk-ingress-narrow", "models": ["claude-via-anthropic"], "aws_access_key": True},
    )
    client = _sigv4_client(
        ingress_gateway,
        access_key_id=minted["access_key_id"],
        secret=minted["secret_access_key"],
    )
    assert client.converse(modelId="claude-via-anthropic", messages=USER)["stopReason"] == "end_turn"
    with pytest.raises(ClientError) as raised:
        client.converse(modelId="gemini-direct", messages=USER)
    code, status, _ = _error(raised)
    assert (code, status) == ("AccessDeniedException", 403)


def test_a_key_over_its_rate_limit_is_throttled(ingress_gateway: IngressGateway):
    minted = ingress_gateway.admin(
        "POST",
        "/admin/v1/keys",
        {"tenant": "sdk-ingress-rpm", "rpm": 1, "aws_access_key": True},
    )
    client = _sigv4_client(
        ingress_gateway,
        access_key_id=minted["access_key_id"],
        secret=minted["secret_access_key"],
    )
    client.converse(modelId="claude-via-anthropic", messages=USER)
    with pytest.raises(ClientError) as raised:
        client.converse(modelId="claude-via-anthropic", messages=USER)
    code, status, _ = _error(raised)
    assert (code, status) == ("ThrottlingException", 429)
    assert int(raised.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1


# --------------------------------------------------------------------------------------------
# A model named as Bedrock names it (a colon in the model id)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["converse", "converse_stream", "invoke_model", "invoke_stream"])
def test_a_bedrock_style_model_id_signed_with_sigv4(client, operation: str):
    if operation == "converse":
        answer = client.converse(modelId=BEDROCK_NAMED_MODEL, messages=USER)
        assert answer["output"]["message"]["content"] == [{"text": CLOUD_TEXT}]
    elif operation == "converse_stream":
        answer = client.converse_stream(modelId=BEDROCK_NAMED_MODEL, messages=USER)
        events = list(answer["stream"])
        assert "".join(
            e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
        ) == CLOUD_TEXT
    elif operation == "invoke_model":
        answer = client.invoke_model(modelId=BEDROCK_NAMED_MODEL, body=_anthropic_body())
        assert json.loads(answer["body"].read())["content"][0]["text"] == CLOUD_TEXT
    else:
        answer = client.invoke_model_with_response_stream(
            modelId=BEDROCK_NAMED_MODEL, body=_anthropic_body()
        )
        kinds = [json.loads(p["chunk"]["bytes"])["type"] for p in answer["body"]]
        assert kinds[-1] == "message_stop"


def test_a_bedrock_style_model_id_with_a_bearer_token(ingress_gateway_tls: IngressGateway, monkeypatch):
    client = _bearer_client(ingress_gateway_tls, monkeypatch, ingress_gateway_tls.key)
    answer = client.converse(modelId=BEDROCK_NAMED_MODEL, messages=USER)
    assert answer["output"]["message"]["content"] == [{"text": CLOUD_TEXT}]


# --------------------------------------------------------------------------------------------
# Fields boto3 sends that only Bedrock knows
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAM_IDS)
def test_converse_advisory_fields_are_accepted(client, upstream: str):
    """Fields with no meaning off Bedrock (latency tier, service tier, metadata) do not fail."""
    up = UPSTREAMS[upstream]
    answer = client.converse(
        modelId=up.text_model,
        messages=USER,
        performanceConfig={"latency": "standard"},
        serviceTier={"type": "default"},
        requestMetadata={"team": "sdk-tests"},
        additionalModelResponseFieldPaths=["/stop_sequence"],
    )
    assert answer["output"]["message"]["content"] == [{"text": up.text}]


@pytest.mark.parametrize("operation", ["converse", "converse_stream"])
def test_converse_project_identifier_is_accepted(client, operation: str):
    answer = getattr(client, operation)(
        modelId=UPSTREAMS["bedrock"].text_model, messages=USER, projectIdentifier="proj-sdk-tests"
    )
    if operation == "converse_stream":
        assert any("messageStop" in event for event in answer["stream"])
    else:
        assert answer["stopReason"] == "end_turn"


GUARDRAIL = {"guardrailIdentifier": "gr-sdk-tests", "guardrailVersion": "1"}


def test_a_guardrail_for_a_model_off_bedrock_is_a_validation_exception(client):
    with pytest.raises(ClientError) as raised:
        client.converse(modelId=UPSTREAMS["gemini"].text_model, messages=USER, guardrailConfig=GUARDRAIL)
    code, status, message = _error(raised)
    assert (code, status) == ("ValidationException", 400)
    assert "guardrailConfig" in message


def test_a_guardrail_reaches_a_model_on_bedrock(client):
    answer = client.converse(
        modelId=UPSTREAMS["bedrock"].text_model, messages=USER, guardrailConfig=GUARDRAIL
    )
    assert answer["output"]["message"]["content"] == [{"text": CLOUD_TEXT}]


@pytest.mark.parametrize("name", ["bedrock", "gemini", "openai"])
def test_count_tokens_answers_for_every_upstream(client, name: str):
    # Bedrock counts itself; elsewhere the gateway estimates, and says so in a header.
    answer = client.count_tokens(
        modelId=UPSTREAMS[name].text_model, input={"converse": {"messages": USER}}
    )
    assert answer["inputTokens"] > 0
    estimated = answer["ResponseMetadata"]["HTTPHeaders"].get("x-switchyard-estimated")
    assert estimated == (None if name == "bedrock" else "true")


# --------------------------------------------------------------------------------------------
# A key's budget and revocation, in Bedrock's words
# --------------------------------------------------------------------------------------------


def test_a_spent_budget_is_a_service_quota_exception(ingress_gateway: IngressGateway):
    # With no maxTokens the hold assumes 4,096 output tokens at $2 per million: over $0.00001.
    minted = ingress_gateway.admin(
        "POST",
        "/admin/v1/keys",
        {"tenant": "sdk-ingress-budget", "budget_usd": "0.00001", "aws_access_key": True},
    )
    client = _sigv4_client(
        ingress_gateway, access_key_id=minted["access_key_id"], secret=minted["secret_access_key"]
    )
    with pytest.raises(ClientError) as raised:
        client.converse(modelId="mock-chat", messages=USER)
    code, status, message = _error(raised)
    # A quota, not throttling: boto3 does not retry it.
    assert (code, status) == ("ServiceQuotaExceededException", 400)
    assert message


def test_a_revoked_access_key_is_unrecognized(ingress_gateway: IngressGateway):
    minted = ingress_gateway.admin(
        "POST", "/admin/v1/keys", {"tenant": "sdk-ingress-revoked", "aws_access_key": True}
    )
    client = _sigv4_client(
        ingress_gateway, access_key_id=minted["access_key_id"], secret=minted["secret_access_key"]
    )
    assert client.converse(modelId="mock-chat", messages=USER)["stopReason"] == "end_turn"
    ingress_gateway.admin("POST", f"/admin/v1/keys/{minted['id']}/revoke")
    deadline = time.monotonic() + 10
    while True:
        try:
            client.converse(modelId="mock-chat", messages=USER)
        except ClientError as e:
            code = e.response["Error"]["Code"]
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            assert (code, status) == ("UnrecognizedClientException", 403)
            break
        assert time.monotonic() < deadline, "the revoked access key still works"
        time.sleep(0.2)
