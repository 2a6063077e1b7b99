//! `sy-fake-clouds`: the fake Anthropic, Bedrock and Gemini APIs on 127.0.0.1 for SDK test
//! suites. Prints `anthropic URL`, `bedrock URL` and `gemini URL`, one line each, then serves
//! until killed. Each fake picks its answer from the model it is asked for:
//!
//! * a model id containing `tool`: one call of `get_weather` with `{"city":"Paris","unit":"celsius"}`;
//!   `gemini-3-tool` signs it as Gemini 3 does, checks the signature when the history is replayed,
//!   and once the call's result comes back answers how its signature did;
//! * `claude-overloaded` (Anthropic), `anthropic.overloaded-v1:0` (Bedrock, throttled),
//!   `gemini-exhausted` (Gemini): the vendor's overload error;
//! * `claude-stream-overloaded` (Anthropic), `anthropic.stream-throttled-v1:0` (Bedrock): a stream
//!   that breaks off after its first piece with the vendor's mid-stream error (`event: error`
//!   `overloaded_error`; a `throttlingException` frame); the same error as an HTTP answer when
//!   not streamed;
//! * anything else: the text `Hello from the cloud`, in three pieces when streamed.
//!
//! Keys: the testkit's `TEST_API_KEY`s and `BedrockCredentials::test()`.

use std::io::Write as _;
use std::process::ExitCode;

use serde_json::json;
use sy_testkit::{
    AnthropicScript, BedrockScript, FakeAnthropic, FakeBedrock, FakeGemini, GeminiScript,
};

const TEXT: [&str; 3] = ["Hello", " from", " the cloud"];

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!("usage: sy-fake-clouds (no arguments)");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sy-fake-clouds: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let args = json!({ "city": "Paris", "unit": "celsius" });
        let anthropic = FakeAnthropic::start(AnthropicScript::by_model(
            vec![
                (
                    "claude-tool",
                    AnthropicScript::tool_call("get_weather", &args),
                ),
                ("claude-overloaded", AnthropicScript::overloaded()),
                (
                    "claude-stream-overloaded",
                    AnthropicScript::stream_error(&TEXT, 1, "overloaded_error", "Overloaded"),
                ),
            ],
            AnthropicScript::reply(&TEXT),
        ))
        .await;
        let bedrock = FakeBedrock::start(BedrockScript::by_model(
            vec![
                (
                    "anthropic.claude-tool-v1:0",
                    BedrockScript::tool_call("get_weather", &args),
                ),
                ("anthropic.overloaded-v1:0", BedrockScript::throttled()),
                (
                    "anthropic.stream-throttled-v1:0",
                    BedrockScript::stream_exception(
                        &TEXT,
                        1,
                        "throttlingException",
                        "Too many tokens, please wait before trying again.",
                    ),
                ),
            ],
            BedrockScript::reply(&TEXT),
        ))
        .await;
        let gemini = FakeGemini::start(GeminiScript::by_model(
            vec![
                ("gemini-tool", GeminiScript::tool_call("get_weather", &args)),
                (
                    "gemini-3-tool",
                    GeminiScript::tool_call("get_weather", &args),
                ),
                ("gemini-exhausted", GeminiScript::exhausted("7s")),
            ],
            GeminiScript::reply(&TEXT),
        ))
        .await;
        let mut stdout = std::io::stdout().lock();
        let announced = writeln!(stdout, "anthropic {}", anthropic.base_url())
            .and_then(|()| writeln!(stdout, "bedrock {}", bedrock.base_url()))
            .and_then(|()| writeln!(stdout, "gemini {}", gemini.base_url()))
            .and_then(|()| stdout.flush());
        drop(stdout);
        if announced.is_err() {
            return ExitCode::FAILURE;
        }
        std::future::pending::<()>().await;
        ExitCode::SUCCESS
    })
}
