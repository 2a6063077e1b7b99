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

/// The weighted choice for this turn first (the next healthy one in the cycle), then the other healthy
/// targets in config order as failover.
pub fn weighted(cycle: &[usize], turn: u64, healthy: &[usize]) -> Vec<usize> {
    let start = if cycle.is_empty() {
        0
    } else {
        (turn % cycle.len() as u64) as usize
    };
    let first = (0..cycle.len())
        .map(|k| cycle[(start + k) % cycle.len()])
        .find(|i| healthy.contains(i));
    let mut order = Vec::with_capacity(healthy.len());
    order.extend(first);
    order.extend(healthy.iter().copied().filter(|&i| Some(i) != first));
    order
}

/// Power of two choices: of two random healthy targets, the one with the lower observed latency goes
/// first (unknown latency counts as fastest, so new deployments get measured); the rest follow by
/// latency. One fast deployment is not stampeded, since it only wins when it is drawn.
pub fn least_latency(healthy: &[usize], latency_us: &[u64], random: u64) -> Vec<usize> {
    let mut rest: Vec<usize> = healthy.to_vec();
    rest.sort_by_key(|&i| (latency_us[i], i));
    if healthy.len() < 2 {
        return rest;
    }
    // Two distinct positions from one random number.
    let n = healthy.len() as u64;
    let ia = (random % n) as usize;
    let mut ib = ((random >> 32) % (n - 1)) as usize;
    if ib >= ia {
        ib += 1;
    }
    let (a, b) = (healthy[ia], healthy[ib]);
    let first = if (latency_us[b], b) < (latency_us[a], a) {
        b
    } else {
        a
    };
    rest.retain(|&i| i != first);
    rest.insert(0, first);
    rest
}

/// Cheapest first; equal prices keep config order; unknown prices go last.
pub fn lowest_cost(healthy: &[usize], cost: &[Option<i64>]) -> Vec<usize> {
    let mut order = healthy.to_vec();
    order.sort_by_key(|&i| (cost[i].is_none(), cost[i].unwrap_or(i64::MAX), i));
    order
}
