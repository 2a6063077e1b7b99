//! The routing strategies, as pure functions over target indices.

/// The smooth weighted round-robin order (nginx's algorithm) over one full cycle: each target appears
/// `weight` times, spread out rather than in runs. Targets with weight 0 never appear.
pub fn smooth_weighted_order(weights: &[u32]) -> Vec<usize> {
    // Cap the cycle so a config with huge weights cannot make the table huge; ratios are kept.
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    let scale = total.div_ceil(10_000).max(1);
    let weights: Vec<i64> = weights
        .iter()
        .map(|w| match u64::from(*w) {
            0 => 0,
            w => (w / scale).max(1) as i64,
        })
        .collect();
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; weights.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += w;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        order.push(best);
    }
    order
}

/// The weighted choice for this turn: the next healthy target in the cycle from `turn`.
pub fn weighted_first(
    cycle: &[usize],
    turn: u64,
    healthy: impl Fn(usize) -> bool,
) -> Option<usize> {
    if cycle.is_empty() {
        return None;
    }
    let start = (turn % cycle.len() as u64) as usize;
    (0..cycle.len())
        .map(|k| cycle[(start + k) % cycle.len()])
        .find(|&i| healthy(i))
}

/// Power of two choices: of two distinct random healthy targets (`nth_healthy(rank)`), the one with
/// the lower observed latency (unknown counts as fastest, so new deployments get measured). A fast
/// deployment wins only when drawn, so it is not stampeded.
pub fn two_choices(
    healthy_count: usize,
    random: u64,
    nth_healthy: impl Fn(usize) -> Option<usize>,
    latency_us: impl Fn(usize) -> u64,
) -> Option<usize> {
    if healthy_count < 2 {
        return nth_healthy(0);
    }
    let n = healthy_count as u64;
    let ra = (random % n) as usize;
    let mut rb = ((random >> 32) % (n - 1)) as usize;
    if rb >= ra {
        rb += 1;
    }
    let (a, b) = (nth_healthy(ra)?, nth_healthy(rb)?);
    Some(if (latency_us(b), b) < (latency_us(a), a) {
        b
    } else {
        a
    })
}

/// For each instant at which some target's price changes, the targets cheapest first (input plus
/// output); equal prices keep config order; unknown prices go last. Computed once per table.
pub fn cost_orders(targets: &[crate::Target]) -> Vec<(i64, Vec<usize>)> {
    let mut instants: Vec<i64> = targets
        .iter()
        .flat_map(|t| t.prices.iter().map(|p| p.effective_from))
        .collect();
    instants.push(i64::MIN);
    instants.sort_unstable();
    instants.dedup();
    instants
        .into_iter()
        .map(|at| {
            let mut order: Vec<usize> = (0..targets.len()).collect();
            order.sort_by_key(|&i| {
                let cost = targets[i].price_at(at);
                (cost.is_none(), cost.unwrap_or(i64::MAX), i)
            });
            (at, order)
        })
        .collect()
}
