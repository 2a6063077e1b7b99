//! Rating: provider usage into disjoint token buckets, and buckets times a price into an exact cost.
//!
//! Money is integer picodollars (1e-12 USD): a price is micro-dollars per million tokens, so a
//! token costs exactly that many picodollars. No floating point touches money.

use sy_config::PricePoint;
use sy_store::Tokens;
use sy_wire::openai::Usage;

/// OpenAI's usage in disjoint buckets: its `prompt_tokens` include cache reads and writes and
/// its `completion_tokens` include reasoning, so they are taken out to be priced on their own.
pub fn buckets(usage: &Usage) -> Tokens {
    let cache_read = usage.cached_tokens().min(usage.prompt_tokens);
    let cache_write = usage
        .cache_write_tokens()
        .min(usage.prompt_tokens - cache_read);
    let reasoning = usage.reasoning_tokens().min(usage.completion_tokens);
    Tokens {
        input: usage.prompt_tokens - cache_read - cache_write,
        cache_read,
        cache_write,
        output: usage.completion_tokens - reasoning,
        reasoning,
    }
}

/// The exact cost of `tokens` at `price`, in picodollars; `None` only if it overflows i64
/// (over nine million dollars for one request).
pub fn cost_pico(tokens: &Tokens, price: &PricePoint) -> Option<i64> {
    let line =
        |count: u64, per_million_micro: i64| i128::from(count) * i128::from(per_million_micro);
    let total = line(tokens.input, price.input.0)
        + line(tokens.cache_read, price.cache_read.0)
        + line(tokens.cache_write, price.cache_write.0)
        + line(tokens.output, price.output.0)
        + line(tokens.reasoning, price.reasoning.0);
    i64::try_from(total).ok()
}

/// Picodollars as an exact decimal string of dollars: `0.001234`, `12.50`, `0.00`.
pub fn format_usd(pico: i128) -> String {
    const SCALE: i128 = 1_000_000_000_000;
    let sign = if pico < 0 { "-" } else { "" };
    let abs = pico.unsigned_abs();
    let whole = abs / SCALE as u128;
    let frac = format!("{:012}", abs % SCALE as u128);
    let trimmed = frac.trim_end_matches('0');
    let frac = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("{sign}{whole}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sy_config::MicroUsd;
    use sy_wire::openai::usage::{CompletionTokensDetails, PromptTokensDetails};

    fn price() -> PricePoint {
        PricePoint {
            effective_from: i64::MIN,
            input: MicroUsd(2_500_000),
            cache_read: MicroUsd(1_250_000),
            cache_write: MicroUsd(3_125_000),
            output: MicroUsd(10_000_000),
            reasoning: MicroUsd(10_000_000),
        }
    }

    #[test]
    fn openai_usage_splits_into_disjoint_buckets() {
        let usage = Usage {
            prompt_tokens: 1000,
            completion_tokens: 300,
            total_tokens: 1300,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: 500,
                cache_write_tokens: 100,
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: 200,
            }),
        };
        let b = buckets(&usage);
        assert_eq!(
            (b.input, b.cache_read, b.cache_write, b.output, b.reasoning),
            (400, 500, 100, 100, 200)
        );
        assert_eq!(
            b.input + b.cache_read + b.cache_write + b.output + b.reasoning,
            usage.total_tokens,
            "nothing counted twice, nothing lost"
        );
    }

    #[test]
    fn openai_usage_without_details_is_all_plain_input_and_output() {
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
            ..Usage::default()
        };
        let b = buckets(&usage);
        assert_eq!(
            (b.input, b.cache_read, b.cache_write, b.output, b.reasoning),
            (10, 0, 0, 5, 0)
        );
    }

    #[test]
    fn costs_are_exact() {
        let tokens = Tokens {
            input: 400,
            cache_read: 600,
            cache_write: 0,
            output: 100,
            reasoning: 200,
        };
        // 400 × 2.5 + 600 × 1.25 + 300 × 10 = 1000 + 750 + 3000 = 4750 µ$ per million → $0.00475
        assert_eq!(cost_pico(&tokens, &price()), Some(4_750_000_000));
        assert_eq!(format_usd(4_750_000_000), "0.00475");
        // One token at $0.000001 per million is one picodollar; a million of them, one micro.
        let tiny = PricePoint {
            input: MicroUsd(1),
            ..price()
        };
        let one = Tokens {
            input: 1,
            ..Tokens::default()
        };
        let total: i128 = (0..1_000_000)
            .map(|_| i128::from(cost_pico(&one, &tiny).unwrap_or(0)))
            .sum();
        assert_eq!(format_usd(total), "0.000001");
    }

    #[test]
    fn dollars_print_exactly() {
        assert_eq!(format_usd(0), "0.00");
        assert_eq!(format_usd(12_500_000_000_000), "12.50");
        assert_eq!(format_usd(1), "0.000000000001");
        assert_eq!(format_usd(1_234_000_000), "0.001234");
        assert_eq!(format_usd(-1_000_000_000_000), "-1.00");
    }
}
