//! Pure routing tests: every strategy, health ordering, price dates.

use std::collections::HashMap;
use std::time::Duration;

use sy_config::{MapEnv, load_str};

use super::*;

fn table(routing: &str, deployments: &str, extra: &str) -> RoutingTable {
    let text = format!(
        r#"
[providers.a]
kind = "simulator"
[providers.b]
kind = "simulator"
[providers.c]
kind = "simulator"

[[models]]
name = "m"
routing = "{routing}"
deployments = [{deployments}]
{extra}
"#
    );
    let config = load_str(&text, None, &MapEnv::default()).unwrap_or_else(|e| panic!("{e}"));
    RoutingTable::from_config(&config)
}

const ABC: &str = r#"{ provider = "a", model = "x" }, { provider = "b", model = "x" }, { provider = "c", model = "x" }"#;

fn input(now_ms: u64, random: u64) -> PlanInput {
    PlanInput {
        now_ms,
        now_unix: 1_800_000_000,
        random,
    }
}

fn names(plan: &[&Target]) -> Vec<String> {
    plan.iter().map(|t| t.provider.to_string()).collect()
}

fn trip(table: &RoutingTable, provider: &str, now_ms: u64) {
    let route = table.route("m").expect("route");
    let target = route
        .targets
        .iter()
        .find(|t| &*t.provider == provider)
        .expect("target");
    for _ in 0..table.policy().failure_threshold {
        target.health.record_failure(now_ms, table.policy());
    }
}

#[test]
fn priority_keeps_config_order_and_moves_cooling_deployments_last() {
    let t = table("priority", ABC, "");
    assert_eq!(
        names(&t.plan("m", &input(0, 0), &Needs::default()).expect("plan")),
        ["a", "b", "c"]
    );
    trip(&t, "a", 1_000);
    assert_eq!(
        names(
            &t.plan("m", &input(1_000, 0), &Needs::default())
                .expect("plan")
        ),
        ["b", "c", "a"]
    );
    // After the cool-down the primary is probed first again.
    assert_eq!(
        names(
            &t.plan("m", &input(6_000, 0), &Needs::default())
                .expect("plan")
        ),
        ["a", "b", "c"]
    );
    assert_eq!(
        t.plan("other", &input(0, 0), &Needs::default()).err(),
        Some(PlanError::UnknownModel)
    );
}

#[test]
fn weighted_splits_by_weight_smoothly() {
    let t = table(
        "weighted",
        r#"{ provider = "a", model = "x", weight = 3 }, { provider = "b", model = "x", weight = 1 }, { provider = "c", model = "x", weight = 0 }"#,
        "",
    );
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut firsts = Vec::new();
    for _ in 0..4_000 {
        let plan = t.plan("m", &input(0, 0), &Needs::default()).expect("plan");
        assert_eq!(
            plan.len(),
            3,
            "every deployment stays available as failover"
        );
        *counts.entry(plan[0].provider.to_string()).or_default() += 1;
        firsts.push(plan[0].provider.to_string());
    }
    assert_eq!(counts["a"], 3_000);
    assert_eq!(counts["b"], 1_000);
    assert!(!counts.contains_key("c"), "weight 0 is failover only");
    assert!(
        firsts
            .windows(4)
            .all(|w| w.iter().filter(|p| *p == "b").count() == 1),
        "interleaved, not in runs"
    );
}

#[test]
fn weighted_skips_a_cooling_deployment() {
    let t = table(
        "weighted",
        r#"{ provider = "a", model = "x", weight = 1 }, { provider = "b", model = "x", weight = 1 }"#,
        "",
    );
    trip(&t, "a", 0);
    for _ in 0..10 {
        assert_eq!(
            names(&t.plan("m", &input(10, 0), &Needs::default()).expect("plan"))[0],
            "b"
        );
    }
}

#[test]
fn smooth_weighted_order_is_interleaved_and_bounded() {
    assert_eq!(
        strategy::smooth_weighted_order(&[5, 1, 1]),
        [0, 0, 1, 0, 2, 0, 0]
    );
    let huge = strategy::smooth_weighted_order(&[u32::MAX, u32::MAX]);
    assert!(huge.len() <= 10_002);
    assert_eq!(huge.iter().filter(|&&i| i == 0).count(), huge.len() / 2);
}

#[test]
fn least_latency_prefers_the_faster_of_two_choices() {
    let t = table("least-latency", ABC, "");
    let route = t.route("m").expect("route");
    route.targets[0]
        .health
        .record_success(Duration::from_millis(50));
    route.targets[1]
        .health
        .record_success(Duration::from_millis(5));
    route.targets[2]
        .health
        .record_success(Duration::from_millis(20));
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut state = 0x1234_5678_9abc_def0u64;
    for _ in 0..3_000 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let plan = t
            .plan("m", &input(0, state), &Needs::default())
            .expect("plan");
        *counts.entry(plan[0].provider.to_string()).or_default() += 1;
        assert_eq!(plan.len(), 3);
    }
    // b wins whenever drawn (2/3 of pairs), c when paired with a (1/3), a never.
    assert!(!counts.contains_key("a"), "{counts:?}");
    let b = counts["b"] as f64 / 3_000.0;
    assert!((b - 2.0 / 3.0).abs() < 0.05, "{counts:?}");
}

#[test]
fn lowest_cost_follows_prices_and_their_dates() {
    let prices = r#"
[[prices]]
provider = "a"
model = "x"
input = "2.50"
output = "10.00"
[[prices]]
provider = "a"
model = "x"
input = "0.50"
output = "1.00"
effective_from = "2027-01-01T00:00:00Z"
[[prices]]
provider = "b"
model = "x"
input = "1.00"
output = "4.00"
[[prices]]
provider = "c"
model = "x"
input = "3.00"
output = "2.00"
"#;
    let t = table("lowest-cost", ABC, prices);
    let before = PlanInput {
        now_unix: 1_798_761_599, // 2026-12-31T23:59:59Z
        ..input(0, 0)
    };
    assert_eq!(
        names(&t.plan("m", &before, &Needs::default()).expect("plan")),
        ["b", "c", "a"],
        "b and c tie at 5.00; config order breaks it"
    );
    let after = PlanInput {
        now_unix: 1_798_761_600, // 2027-01-01T00:00:00Z: a's new price applies
        ..input(0, 0)
    };
    assert_eq!(
        names(&t.plan("m", &after, &Needs::default()).expect("plan")),
        ["a", "b", "c"]
    );
}

const AGREEMENTS: &str = r#"
[agreements.azure-primary]
providers = ["a"]
primary = true
licensed_from = "2026-01-01"
licensed_until = "2027-01-01"

[agreements.bedrock]
providers = ["b"]
licensed_from = "2026-06-01T00:00:00Z"
"#;

fn at(now_unix: i64) -> PlanInput {
    PlanInput {
        now_unix,
        ..input(0, 0)
    }
}

const JAN_1_2026: i64 = 1_767_225_600;
const JUN_1_2026: i64 = 1_780_272_000;
const JAN_1_2027: i64 = 1_798_761_600;

#[test]
fn licence_windows_hold_at_their_exact_boundaries() {
    let t = table("priority", ABC, AGREEMENTS);
    assert_eq!(
        names(
            &t.plan("m", &at(JAN_1_2026 - 1), &Needs::default())
                .expect("plan")
        ),
        ["c"],
        "nothing licensed yet but the uncovered c"
    );
    assert_eq!(
        names(
            &t.plan("m", &at(JAN_1_2026), &Needs::default())
                .expect("plan")
        ),
        ["a", "c"],
        "from is inclusive"
    );
    assert_eq!(
        names(
            &t.plan("m", &at(JUN_1_2026 - 1), &Needs::default())
                .expect("plan")
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            &t.plan("m", &at(JUN_1_2026), &Needs::default())
                .expect("plan")
        ),
        ["a", "b", "c"]
    );
    assert_eq!(
        names(
            &t.plan("m", &at(JAN_1_2027 - 1), &Needs::default())
                .expect("plan")
        ),
        ["a", "b", "c"]
    );
    assert_eq!(
        names(
            &t.plan("m", &at(JAN_1_2027), &Needs::default())
                .expect("plan")
        ),
        ["b", "c"],
        "until is exclusive"
    );
}

#[test]
fn an_unlicensed_model_has_no_plan() {
    let t = table("priority", r#"{ provider = "a", model = "x" }"#, AGREEMENTS);
    assert_eq!(
        t.plan("m", &at(JAN_1_2027), &Needs::default()).err(),
        Some(PlanError::NotLicensed)
    );
}

#[test]
fn the_primary_partner_is_preferred_under_every_strategy_unless_cooling() {
    let deployments = r#"{ provider = "b", model = "x", weight = 9 }, { provider = "c", model = "x", weight = 9 }, { provider = "a", model = "x", weight = 1 }"#;
    let prices = r#"
[[prices]]
provider = "a"
model = "x"
input = "9"
output = "9"
[[prices]]
provider = "b"
model = "x"
input = "1"
output = "1"
[[prices]]
provider = "c"
model = "x"
input = "1"
output = "1"
"#;
    let now = at(JUN_1_2026);
    for routing in ["priority", "weighted", "least-latency", "lowest-cost"] {
        let t = table(routing, deployments, &format!("{AGREEMENTS}{prices}"));
        for r in 0..20u64 {
            let plan = t
                .plan(
                    "m",
                    &PlanInput {
                        random: r.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                        ..now
                    },
                    &Needs::default(),
                )
                .expect("plan");
            assert_eq!(plan[0].provider.as_ref(), "a", "{routing}");
            assert_eq!(plan.len(), 3, "{routing}");
        }
        trip(&t, "a", 0);
        let plan = t
            .plan("m", &PlanInput { now_ms: 10, ..now }, &Needs::default())
            .expect("plan");
        assert_ne!(
            plan[0].provider.as_ref(),
            "a",
            "{routing}: a cooling primary is not preferred"
        );
        assert_eq!(
            plan[2].provider.as_ref(),
            "a",
            "{routing}: but stays the last resort"
        );
    }
}

#[test]
fn capabilities_and_regions_filter_the_plan() {
    let deployments = r#"
  { provider = "a", model = "gpt-4o", region = "eu-west-1" },
  { provider = "b", model = "gpt-3.5-turbo", region = "us-east-1" },
  { provider = "c", model = "local-llm", capabilities = { vision = false, max_context_tokens = 8192 } },
"#;
    let t = table("priority", deployments, "");
    let plan = |needs: &Needs<'_>| t.plan("m", &input(0, 0), needs).map(|p| names(&p));
    assert_eq!(plan(&Needs::default()).expect("plan"), ["a", "b", "c"]);
    let vision = Needs {
        chat: true,
        vision: true,
        ..Needs::default()
    };
    assert_eq!(
        plan(&vision).expect("plan"),
        ["a"],
        "only gpt-4o sees images"
    );
    let long = Needs {
        chat: true,
        input_tokens: 20_000,
        ..Needs::default()
    };
    assert_eq!(
        plan(&long).expect("plan"),
        ["a"],
        "16k and 8k windows are too small"
    );
    let eu = ["eu-west-1"];
    let resident = Needs {
        regions: Some(&eu),
        ..Needs::default()
    };
    assert_eq!(plan(&resident).expect("plan"), ["a"]);
    let named = Needs {
        deployment: Some("c/local-llm"),
        ..Needs::default()
    };
    assert_eq!(plan(&named).expect("plan"), ["c"]);
    assert_eq!(
        t.plan(
            "m",
            &input(0, 0),
            &Needs {
                deployment: Some("nope"),
                ..Needs::default()
            }
        )
        .err(),
        Some(PlanError::UnknownDeployment("nope".into()))
    );
    let impossible = Needs {
        embeddings: true,
        regions: Some(&eu),
        ..Needs::default()
    };
    match t.plan("m", &input(0, 0), &impossible) {
        Err(PlanError::Unsatisfied(reasons)) => {
            assert_eq!(reasons.len(), 3);
            assert_eq!(&*reasons[0].0, "a/gpt-4o");
            assert_eq!(reasons[0].1, "does not support embeddings");
            assert!(
                reasons[1]
                    .1
                    .contains("runs in us-east-1, outside the requested regions (eu-west-1)"),
                "{reasons:?}"
            );
        }
        other => panic!("expected Unsatisfied, got {other:?}"),
    }
}

#[test]
fn the_fast_check_agrees_with_the_reasons() {
    let caps = [
        sy_config::catalogue_capabilities("gpt-4o"),
        sy_config::catalogue_capabilities("gpt-3.5-turbo"),
        sy_config::catalogue_capabilities("text-embedding-3-small"),
        sy_config::Capabilities::UNKNOWN,
    ];
    let eu = ["eu"];
    for bits in 0u32..512 {
        let needs = Needs {
            chat: bits & 1 != 0,
            embeddings: bits & 2 != 0,
            streaming: bits & 4 != 0,
            tools: bits & 8 != 0,
            vision: bits & 16 != 0,
            json_schema: bits & 32 != 0,
            input_tokens: if bits & 64 != 0 { 20_000 } else { 10 },
            output_tokens: (bits & 128 != 0).then_some(20_000),
            regions: (bits & 256 != 0).then_some(&eu[..]),
            deployment: None,
        };
        for c in &caps {
            for region in [None, Some("eu"), Some("us")] {
                assert_eq!(
                    needs.satisfied_by("d", c, region),
                    needs.unmet("d", c, region).is_none(),
                    "{needs:?} {c:?} {region:?}"
                );
            }
        }
    }
}

#[test]
fn a_plan_cut_short_is_the_whole_plans_prefix_under_every_strategy() {
    const PRICES: &str = r#"
[[prices]]
provider = "a"
model = "x"
input = "3"
output = "3"
[[prices]]
provider = "b"
model = "x"
input = "1"
output = "1"
[[prices]]
provider = "c"
model = "x"
input = "2"
output = "2"
"#;
    for routing in ["priority", "weighted", "least-latency", "lowest-cost"] {
        for cooling in [false, true] {
            for random in [0, 7, u64::MAX] {
                // A fresh table per plan: weighted routing advances a turn per decision.
                let fresh = || {
                    let t = table(routing, ABC, PRICES);
                    if cooling {
                        trip(&t, "a", 1_000);
                    }
                    t
                };
                let now = input(1_000, random);
                let whole_table = fresh();
                let whole = whole_table
                    .plan("m", &now, &Needs::default())
                    .expect("plan");
                assert_eq!(whole.len(), 3);
                for limit in [1, 2, 3, 10] {
                    let cut_table = fresh();
                    let part = cut_table
                        .plan_at_most("m", &now, &Needs::default(), limit)
                        .expect("plan");
                    let n = limit.min(whole.len());
                    assert_eq!(
                        names(&part),
                        names(&whole[..n]),
                        "{routing}, cooling {cooling}, limit {limit}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_price_in_force_changes_exactly_at_its_effective_instant() {
    let prices = r#"
[[prices]]
provider = "a"
model = "x"
input = "2.50"
output = "10.00"
[[prices]]
provider = "a"
model = "x"
input = "0.50"
cache_read = "0.25"
output = "1.00"
effective_from = "2027-01-01T00:00:00Z"
"#;
    let t = table("priority", ABC, prices);
    let a = &t.route("m").expect("route").targets[0];
    let new_year = 1_798_761_600; // 2027-01-01T00:00:00Z
    let before = a.price_point_at(new_year - 1).expect("price");
    let at = a.price_point_at(new_year).expect("price");
    assert_eq!((before.input.0, before.output.0), (2_500_000, 10_000_000));
    assert_eq!(
        (at.input.0, at.cache_read.0, at.output.0),
        (500_000, 250_000, 1_000_000)
    );
    assert_eq!(
        before.cache_read.0, 2_500_000,
        "no cache price given: cache reads cost what input does"
    );
    let b = &t.route("m").expect("route").targets[1];
    assert_eq!(b.price_point_at(new_year), None, "b has no price");
}
