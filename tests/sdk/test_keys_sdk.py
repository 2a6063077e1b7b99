"""Keys mode through the official openai SDK: a key minted by the admin API works, a wrong or
revoked key raises AuthenticationError, a model the key may not use raises PermissionDeniedError,
a key over its limit raises RateLimitError carrying the gateway's rate-limit headers, and a key whose
budget is spent raises RateLimitError that the SDK does not retry."""

from __future__ import annotations

import time

import openai
import pytest

from conftest import KeysGateway

MESSAGES = [{"role": "user", "content": "Hello there"}]


def _client(gw: KeysGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0, timeout=30.0)


def test_a_minted_key_works_and_sees_only_its_models(keys_gateway: KeysGateway):
    key = keys_gateway.admin("POST", "/admin/v1/keys", {"tenant": "sdk", "models": ["sim"]})
    with _client(keys_gateway, key["key"]) as client:
        reply = client.chat.completions.create(model="sim", messages=MESSAGES)
        assert reply.choices[0].message.content
        chunks = list(client.chat.completions.create(model="sim", messages=MESSAGES, stream=True))
        assert any(c.choices and c.choices[0].delta.content for c in chunks)
        assert [m.id for m in client.models.list()] == ["sim"]
        with pytest.raises(openai.PermissionDeniedError) as denied:
            client.chat.completions.create(model="sim-other", messages=MESSAGES)
        assert denied.value.code == "model_not_allowed"


def test_wrong_and_revoked_keys_raise_authentication_error(keys_gateway: KeysGateway):
    with _client(keys_gateway, "sk-sy-this-is-not-a-key") as client:
        with pytest.raises(openai.AuthenticationError) as wrong:
            client.chat.completions.create(model="sim", messages=MESSAGES)
        assert wrong.value.code == "invalid_api_key"
    key = keys_gateway.admin("POST", "/admin/v1/keys", {"tenant": "sdk"})
    keys_gateway.admin("POST", f"/admin/v1/keys/{key['id']}/revoke")
    with _client(keys_gateway, key["key"]) as client:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.chat.completions.create(model="sim", messages=MESSAGES)
            except openai.AuthenticationError as e:
                assert e.code == "key_revoked"
                break
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.2)


def test_over_the_limit_raises_rate_limit_error_with_headers(keys_gateway: KeysGateway):
    key = keys_gateway.admin("POST", "/admin/v1/keys", {"tenant": "sdk-limited", "rpm": 2})
    with _client(keys_gateway, key["key"]) as client:
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(model="sim", messages=MESSAGES)
            assert raw.headers["x-ratelimit-limit-requests"] == "2"
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="sim", messages=MESSAGES)
        err = limited.value
        assert err.status_code == 429
        assert err.code == "rate_limit_exceeded"
        assert int(err.response.headers["retry-after"]) >= 1
        assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
        assert err.request_id  # x-request-id, as the SDK reads it


def test_a_spent_budget_raises_rate_limit_error_that_is_not_retried(keys_gateway: KeysGateway):
    # With no max_tokens the hold assumes 4,096 output tokens at $2 per million: far over $0.00001.
    key = keys_gateway.admin(
        "POST", "/admin/v1/keys", {"tenant": "sdk-budget", "budget_usd": "0.00001"}
    )
    retrying = openai.OpenAI(base_url=keys_gateway.base_url, api_key=key["key"], max_retries=3)
    with retrying as client:
        with pytest.raises(openai.RateLimitError) as spent:
            client.chat.completions.create(model="sim", messages=MESSAGES)
    err = spent.value
    assert err.code == "budget_exceeded"
    assert err.type == "insufficient_quota"
    assert err.response.headers["x-should-retry"] == "false"
    # The usage report flushes the ledger first: one refused call, no retries.
    usage = keys_gateway.admin("GET", f"/admin/v1/usage?key={key['id']}&group_by=status")
    assert [(r["status"], r["requests"]) for r in usage["rows"]] == [("refused", 1)]
