//! Partner agreements through the gateway: a deployment outside its licence window gets no traffic,
//! and a model with no licensed deployment is refused before any upstream call.

mod common;

use common::*;
use sy_testkit::{FakeUpstream, Script};

#[tokio::test]
async fn only_licensed_deployments_receive_traffic() {
    let expired = FakeUpstream::start(Script::reply("expired")).await;
    let current = FakeUpstream::start(Script::reply("current")).await;
    let config = format!(
        r#"
[providers.expired]
kind = "openai-compatible"
base_url = "{}/v1"
[providers.current]
kind = "openai-compatible"
base_url = "{}/v1"

[agreements.old-partner]
providers = ["expired"]
primary = true
licensed_from = "2019-07-22"
licensed_until = "2020-01-01"

[agreements.new-partner]
providers = ["current"]
licensed_from = "2020-01-01"
licensed_until = "2100-01-01"

[[models]]
name = "m"
deployments = [{{ provider = "expired", model = "x" }}, {{ provider = "current", model = "x" }}]

[[models]]
name = "gone"
deployments = [{{ provider = "expired", model = "x" }}]
"#,
        expired.base_url(),
        current.base_url()
    );
    let gw = TestGateway::start(&config).await;
    for _ in 0..3 {
        let answer = gw.post("/v1/chat/completions", CHAT).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-switchyard-provider"), "current");
        assert_eq!(answer.header("x-switchyard-attempts"), "1");
    }
    let refused = gw
        .post("/v1/chat/completions", &CHAT.replace("\"m\"", "\"gone\""))
        .await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["error"]["code"], "no_routable_deployment");
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("licence")
    );
    assert_eq!(
        expired.requests().len(),
        0,
        "never sent where the contract does not allow it"
    );
}
