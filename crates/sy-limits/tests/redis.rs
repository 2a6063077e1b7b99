//! The Redis limiter against a real Redis (`SWITCHYARD_TEST_REDIS_URL`, else 127.0.0.1:6379), each
//! test under its own prefix, removed at the end; and against an address where nothing listens.
#![expect(
    clippy::expect_used,
    reason = "tests: the helpers outside #[test] functions fail the test too"
)]

use std::time::Duration;

use redis::AsyncCommands;
use sy_limits::testing::{clear_prefix, keys_under, redis_url, unique_prefix};
use sy_limits::{
    AdmitError, Ask, Denied, Grant, Health, Limiter, RedisOptions, RedisPolicy, Resource, Rule,
    Scope,
};

/// Generous: only there so a hang fails the test instead of stalling it.
const PROMPT: Duration = Duration::from_secs(3);
const NOWHERE: &str = "redis://127.0.0.1:1";

fn rule(scope: Scope, id: &str) -> Rule {
    Rule {
        scope,
        id: id.into(),
        rpm: None,
        tpm: None,
        max_concurrent: None,
    }
}

/// Fails closed, so a Redis that cannot be reached fails the test instead of passing it locally.
fn limiter(prefix: &str) -> Limiter {
    limiter_at(&redis_url(), prefix)
}

fn limiter_at(url: &str, prefix: &str) -> Limiter {
    Limiter::redis(url, prefix, RedisPolicy::FailClosed).expect("url")
}

async fn admit(
    limiter: &Limiter,
    rules: &[Rule],
    tokens: u64,
    lease: &str,
) -> Result<Grant, AdmitError> {
    let ask = Ask {
        rules,
        tokens,
        lease,
    };
    tokio::time::timeout(PROMPT, limiter.admit(&ask))
        .await
        .expect("answered promptly")
}

async fn denied(limiter: &Limiter, rules: &[Rule], tokens: u64) -> Denied {
    match admit(limiter, rules, tokens, "refused").await {
        Err(AdmitError::Limited(denied)) => denied,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Waits for the releases of dropped grants, removes the prefix's keys and checks none are left.
async fn clean_up(prefix: &str, limiters: &[&Limiter]) {
    for limiter in limiters {
        tokio::time::timeout(PROMPT, limiter.flush())
            .await
            .expect("flushed");
    }
    clear_prefix(&redis_url(), prefix).await.expect("cleared");
    assert_eq!(
        keys_under(&redis_url(), prefix).await.expect("scan"),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpm_is_exact_across_two_nodes() {
    let prefix = unique_prefix("sy-limits-test:rpm");
    let (a, b) = (limiter(&prefix), limiter(&prefix));
    let rules: std::sync::Arc<[Rule]> = std::sync::Arc::new([
        Rule {
            rpm: Some(20),
            ..rule(Scope::Key, "k1")
        },
        Rule {
            rpm: Some(1_000),
            ..rule(Scope::Tenant, "acme")
        },
    ]);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let limiter = if i % 2 == 0 { a.clone() } else { b.clone() };
            let rules = rules.clone();
            tokio::spawn(async move { admit(&limiter, &rules, 0, &format!("req-{i}")).await })
        })
        .collect();
    let (mut grants, mut refusals) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await.expect("task") {
            Ok(grant) => grants.push(grant),
            Err(AdmitError::Limited(denied)) => refusals.push(denied),
            Err(other) => panic!("redis should be reachable: {other:?}"),
        }
    }
    assert_eq!(grants.len(), 20);
    assert_eq!(refusals.len(), 30);
    let denied = &refusals[0];
    assert_eq!((denied.scope, &*denied.id), (Scope::Key, "k1"));
    assert_eq!((denied.resource, denied.limit), (Resource::Requests, 20));
    // One every 3 s, less the few milliseconds the test took.
    assert!(
        denied.retry_after <= Duration::from_secs(3),
        "{:?}",
        denied.retry_after
    );
    assert!(
        denied.retry_after > Duration::from_millis(2_500),
        "{:?}",
        denied.retry_after
    );
    let requests = denied.status.requests.expect("requests window");
    assert_eq!((requests.limit, requests.remaining), (20, 0));
    let remaining: Vec<u64> = grants
        .iter()
        .map(|g| g.status().requests.expect("window").remaining)
        .collect();
    assert!(
        remaining.contains(&0) && remaining.contains(&19),
        "{remaining:?}"
    );
    assert_eq!(
        a.health(),
        Health::Redis {
            reachable: true,
            policy: RedisPolicy::FailClosed
        }
    );
    drop(grants);
    clean_up(&prefix, &[&a, &b]).await;
}

#[tokio::test]
async fn concurrency_leases_are_shared_and_released() {
    let prefix = unique_prefix("sy-limits-test:leases");
    let (a, b) = (limiter(&prefix), limiter(&prefix));
    let rules = [Rule {
        max_concurrent: Some(3),
        ..rule(Scope::Tenant, "acme")
    }];
    let first = admit(&a, &rules, 0, "r1").await.expect("admitted");
    let _second = admit(&a, &rules, 0, "r2").await.expect("admitted");
    let _third = admit(&b, &rules, 0, "r3").await.expect("admitted");
    let refused = denied(&b, &rules, 0).await;
    assert_eq!(
        (refused.resource, refused.limit),
        (Resource::Concurrency, 3)
    );
    assert_eq!(refused.retry_after, Duration::from_secs(1));
    denied(&a, &rules, 0).await;

    drop(first);
    a.flush().await;
    let _fourth = admit(&b, &rules, 0, "r4")
        .await
        .expect("admitted after a release");
    denied(&a, &rules, 0).await;
    drop((_second, _third, _fourth));
    a.flush().await;
    b.flush().await;
    // The last release removes the empty lease set.
    let keys = keys_under(&redis_url(), &prefix).await.expect("scan");
    assert!(keys.is_empty(), "{keys:?}");
    clean_up(&prefix, &[&a, &b]).await;
}

#[tokio::test]
async fn tokens_are_settled_both_ways() {
    let prefix = unique_prefix("sy-limits-test:tpm");
    let (a, b) = (limiter(&prefix), limiter(&prefix));
    let rules = [Rule {
        tpm: Some(1_000),
        ..rule(Scope::Key, "k1")
    }];
    let mut grant = admit(&a, &rules, 800, "r1").await.expect("admitted");
    assert_eq!(grant.status().tokens.expect("window").remaining, 200);
    grant.settle(200);
    drop(grant);
    a.flush().await;
    // 600 given back (and a token refills every 60 ms, hence the slack).
    let grant = admit(&b, &rules, 0, "r2").await.expect("admitted");
    let remaining = grant.status().tokens.expect("window").remaining;
    assert!((800..=805).contains(&remaining), "{remaining}");

    let mut grant = admit(&b, &rules, 100, "r3").await.expect("admitted");
    grant.settle(3_000);
    drop(grant);
    b.flush().await;
    // 2,900 more than charged: a debt, floored at a whole minute's allowance.
    let refused = denied(&a, &rules, 0).await;
    assert_eq!(refused.resource, Resource::Tokens);
    assert!(
        refused.retry_after > Duration::from_secs(59),
        "{:?}",
        refused.retry_after
    );
    assert!(
        refused.retry_after <= Duration::from_secs(60),
        "{:?}",
        refused.retry_after
    );
    clean_up(&prefix, &[&a, &b]).await;
}

#[tokio::test]
async fn a_refusal_by_the_tenant_takes_nothing_from_the_key() {
    let prefix = unique_prefix("sy-limits-test:all-or-nothing");
    let a = limiter(&prefix);
    let key = Rule {
        rpm: Some(10),
        tpm: Some(1_000),
        max_concurrent: Some(2),
        ..rule(Scope::Key, "k1")
    };
    let both = [
        key.clone(),
        Rule {
            rpm: Some(1),
            ..rule(Scope::Tenant, "acme")
        },
    ];
    let held = admit(&a, &both, 100, "r1").await.expect("admitted");
    let refused = denied(&a, &both, 100).await;
    assert_eq!(
        (refused.scope, refused.resource),
        (Scope::Tenant, Resource::Requests)
    );
    let alone = admit(&a, std::slice::from_ref(&key), 100, "r2")
        .await
        .expect("admitted");
    let status = alone.status();
    assert_eq!(status.requests.map(|w| w.remaining), Some(8));
    assert!(
        status
            .tokens
            .is_some_and(|w| (800..=802).contains(&w.remaining))
    );
    // Two leases: the refused request took none.
    denied(&a, std::slice::from_ref(&key), 0).await;
    drop((held, alone));
    clean_up(&prefix, &[&a]).await;
}

#[tokio::test]
async fn keys_follow_the_layout_and_expire_when_idle() {
    let prefix = unique_prefix("sy-limits-test:layout");
    let a = limiter(&prefix);
    let rules = [Rule {
        rpm: Some(10),
        max_concurrent: Some(1),
        ..rule(Scope::Tenant, "acme")
    }];
    let grant = admit(&a, &rules, 0, "r1").await.expect("admitted");
    let keys = keys_under(&redis_url(), &prefix).await.expect("scan");
    assert_eq!(
        keys,
        vec![
            format!("{prefix}:{{lim}}:t:acme:leases"),
            format!("{prefix}:{{lim}}:t:acme:rate"),
        ]
    );
    let client = redis::Client::open(redis_url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let rate_ttl: i64 = conn.pttl(&keys[1]).await.expect("pttl");
    assert!((100_000..=130_000).contains(&rate_ttl), "{rate_ttl}");
    let lease_ttl: i64 = conn.pttl(&keys[0]).await.expect("pttl");
    assert!(lease_ttl > 14 * 60 * 1_000, "{lease_ttl}");
    drop(grant);
    clean_up(&prefix, &[&a]).await;
}

#[tokio::test]
async fn a_lost_lease_expires() {
    let prefix = unique_prefix("sy-limits-test:expiry");
    let options = RedisOptions {
        lease_ttl: Duration::from_millis(300),
        ..RedisOptions::new(prefix.clone(), RedisPolicy::FailClosed)
    };
    let a = Limiter::redis_with(&redis_url(), options.clone()).expect("url");
    let b = Limiter::redis_with(&redis_url(), options).expect("url");
    let rules = [Rule {
        max_concurrent: Some(1),
        ..rule(Scope::Key, "k1")
    }];
    // As if its node crashed: never released.
    std::mem::forget(admit(&a, &rules, 0, "lost").await.expect("admitted"));
    denied(&b, &rules, 0).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    drop(
        admit(&b, &rules, 0, "r2")
            .await
            .expect("admitted once the lost lease expired"),
    );
    clean_up(&prefix, &[&a, &b]).await;
}

#[tokio::test]
async fn health_turns_reachable_once_connected() {
    let prefix = unique_prefix("sy-limits-test:health");
    let a = Limiter::redis(&redis_url(), &prefix, RedisPolicy::FailOpen).expect("url");
    let reachable = Health::Redis {
        reachable: true,
        policy: RedisPolicy::FailOpen,
    };
    tokio::time::timeout(PROMPT, async {
        while a.health() != reachable {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("reachable");
    clean_up(&prefix, &[&a]).await;
}

#[tokio::test]
async fn unreachable_fail_open_limits_per_node() {
    let a = Limiter::redis(NOWHERE, "sy-limits-test:nowhere", RedisPolicy::FailOpen).expect("url");
    let rules = [Rule {
        rpm: Some(2),
        ..rule(Scope::Key, "k1")
    }];
    let first = admit(&a, &rules, 0, "r1").await.expect("admitted locally");
    assert_eq!(first.status().requests.map(|w| w.remaining), Some(1));
    admit(&a, &rules, 0, "r2").await.expect("admitted locally");
    let refused = denied(&a, &rules, 0).await;
    assert_eq!(refused.resource, Resource::Requests);
    assert_eq!(
        a.health(),
        Health::Redis {
            reachable: false,
            policy: RedisPolicy::FailOpen
        }
    );
    tokio::time::timeout(PROMPT, a.flush())
        .await
        .expect("nothing pending");
}

#[tokio::test]
async fn unreachable_fail_closed_refuses_only_limited_requests() {
    let a =
        Limiter::redis(NOWHERE, "sy-limits-test:nowhere", RedisPolicy::FailClosed).expect("url");
    let limited = [Rule {
        tpm: Some(1_000),
        ..rule(Scope::Tenant, "acme")
    }];
    for _ in 0..3 {
        let result = admit(&a, &limited, 10, "r1").await;
        assert!(
            matches!(result, Err(AdmitError::Unavailable(_))),
            "{result:?}"
        );
    }
    // Nothing to enforce: no Redis needed.
    admit(&a, &[rule(Scope::Key, "k1")], 10, "r2")
        .await
        .expect("admitted");
    assert_eq!(
        a.health(),
        Health::Redis {
            reachable: false,
            policy: RedisPolicy::FailClosed
        }
    );
}

#[tokio::test]
async fn a_silent_redis_is_given_up_on_promptly() {
    // Accepts connections and never answers: only the timeouts can end a call.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("redis://{}", silent.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let options = RedisOptions {
        connection_timeout: Duration::from_millis(300),
        response_timeout: Duration::from_millis(200),
        ..RedisOptions::new("sy-limits-test:silent", RedisPolicy::FailOpen)
    };
    let a = Limiter::redis_with(&url, options).expect("url");
    let rules = [Rule {
        rpm: Some(1),
        ..rule(Scope::Key, "k1")
    }];
    admit(&a, &rules, 0, "r1").await.expect("admitted locally");
    denied(&a, &rules, 0).await;
    assert_eq!(
        a.health(),
        Health::Redis {
            reachable: false,
            policy: RedisPolicy::FailOpen
        }
    );
}

/// The test Redis's URL with its address replaced by `127.0.0.1:port`, and the real address.
fn through(port: u16) -> (String, (String, u16)) {
    let real = redis_url();
    let (host, real_port) = match redis::Client::open(real.as_str())
        .expect("url")
        .get_connection_info()
        .addr()
    {
        redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        other => panic!("these tests proxy TCP only, not {other:?}"),
    };
    let real_addr = format!("{host}:{real_port}");
    let url = if real.contains(&real_addr) {
        real.replacen(&real_addr, &format!("127.0.0.1:{port}"), 1)
    } else {
        format!("redis://127.0.0.1:{port}")
    };
    (url, (host, real_port))
}

/// Forwards connections to `target`, holding each answer back by `delay`.
fn spawn_proxy(listener: tokio::net::TcpListener, target: (String, u16), delay: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (mut from_client, mut to_client) = inbound.into_split();
                let (mut from_server, mut to_server) = outbound.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                });
                let mut buf = vec![0; 16 * 1024];
                while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                    tokio::time::sleep(delay).await;
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

#[tokio::test]
async fn redis_coming_back_is_noticed_and_used() {
    let prefix = unique_prefix("sy-limits-test:recovery");
    // A port with nothing behind it yet; later a proxy to the real Redis listens there.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let (url, target) = through(port);
    let options = RedisOptions {
        retry_interval: Duration::from_millis(100),
        ..RedisOptions::new(prefix.clone(), RedisPolicy::FailClosed)
    };
    let a = Limiter::redis_with(&url, options).expect("url");
    let rules = [Rule {
        rpm: Some(5),
        ..rule(Scope::Key, "k1")
    }];
    let result = admit(&a, &rules, 0, "r1").await;
    assert!(
        matches!(result, Err(AdmitError::Unavailable(_))),
        "{result:?}"
    );

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind");
    spawn_proxy(listener, target, Duration::ZERO);
    let reachable = Health::Redis {
        reachable: true,
        policy: RedisPolicy::FailClosed,
    };
    tokio::time::timeout(PROMPT, async {
        while a.health() != reachable {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("noticed");
    let grant = admit(&a, &rules, 0, "r2")
        .await
        .expect("admitted through redis");
    assert_eq!(grant.status().requests.map(|w| w.remaining), Some(4));
    assert!(
        !keys_under(&redis_url(), &prefix)
            .await
            .expect("scan")
            .is_empty()
    );
    drop(grant);
    clean_up(&prefix, &[&a]).await;
}

#[tokio::test]
async fn an_admission_abandoned_mid_call_releases_its_lease() {
    let prefix = unique_prefix("sy-limits-test:abandoned");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (url, target) = through(listener.local_addr().expect("addr").port());
    spawn_proxy(listener, target, Duration::from_millis(150));
    let slow = limiter_at(&url, &prefix);
    let direct = limiter(&prefix);
    let rules = [Rule {
        max_concurrent: Some(1),
        ..rule(Scope::Tenant, "acme")
    }];
    let ask = Ask {
        rules: &rules,
        tokens: 0,
        lease: "abandoned",
    };
    // The caller gives up while the script's answer is still on its way.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), slow.admit(&ask)).await;
    assert!(gave_up.is_err(), "answered before the caller gave up");
    // The answer lands in the spawned call, whose grant is dropped there and released.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    slow.flush().await;
    drop(
        admit(&direct, &rules, 0, "next")
            .await
            .expect("the abandoned lease was released"),
    );
    clean_up(&prefix, &[&slow, &direct]).await;
}
