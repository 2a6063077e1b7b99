//! Micro-benchmark of one routing decision: a model with N deployments (default 100), for every
//! strategy, with partner agreements and prices, timed over many decisions. Prints ns per decision.

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use sy_config::{MapEnv, load_str};
use sy_router::{Needs, PlanInput, RoutingTable};

fn config(routing: &str, deployments: usize) -> String {
    let mut text = String::new();
    for p in 0..deployments {
        text.push_str(&format!("[providers.p{p}]\nkind = \"simulator\"\n"));
    }
    text.push_str(&format!("[agreements.primary]\nproviders = [\"p{}\"]\nprimary = true\nlicensed_from = \"2020-01-01\"\nlicensed_until = \"2100-01-01\"\n", deployments / 2));
    text.push_str(&format!(
        "[[models]]\nname = \"m\"\nrouting = \"{routing}\"\ndeployments = [\n"
    ));
    for p in 0..deployments {
        text.push_str(&format!(
            "  {{ provider = \"p{p}\", model = \"x\", weight = {} }},\n",
            1 + p % 5
        ));
    }
    text.push_str("]\n");
    for p in 0..deployments {
        text.push_str(&format!(
            "[[prices]]\nprovider = \"p{p}\"\nmodel = \"x\"\ninput = \"{}.25\"\noutput = \"10\"\n",
            p % 7
        ));
    }
    text
}

fn main() -> anyhow::Result<()> {
    let deployments: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100);
    let decisions: u64 = 1_000_000;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "routing decision, one model with {deployments} deployments, {decisions} decisions each"
    )?;
    for routing in ["priority", "weighted", "least-latency", "lowest-cost"] {
        let config = load_str(&config(routing, deployments), None, &MapEnv::default())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let table = RoutingTable::from_config(&config);
        // A typical chat request: streaming with tools, a 2,000-token prompt.
        let needs = Needs {
            chat: true,
            streaming: true,
            tools: true,
            input_tokens: 2_000,
            ..Needs::default()
        };
        let max_attempts = table.route("m").map_or(1, |r| r.max_attempts) as usize;
        // The whole failover order, and what the gateway asks for: the first max_attempts.
        let mut timings = [0.0f64; 2];
        for (slot, limit) in [usize::MAX, max_attempts].into_iter().enumerate() {
            let started = Instant::now();
            let mut random = 0x9e37_79b9_7f4a_7c15u64;
            for i in 0..decisions {
                random = random.rotate_left(17) ^ i;
                let input = PlanInput {
                    now_ms: 1_000,
                    now_unix: 1_800_000_000,
                    random,
                };
                let plan = table.plan_at_most(black_box("m"), &input, black_box(&needs), limit);
                black_box(plan.map(|p| p.len()).ok());
            }
            timings[slot] = started.elapsed().as_nanos() as f64 / decisions as f64;
        }
        writeln!(
            out,
            "  {routing:<14} {:>8.0} ns per decision (whole plan), {:>8.0} ns (first {max_attempts}, as the gateway asks)",
            timings[0], timings[1]
        )?;
    }
    Ok(())
}
