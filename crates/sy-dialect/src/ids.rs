//! Identifier rules per dialect and the deterministic rewriting that makes a foreign id or a
//! missing one acceptable: the same input always gives the same output, so a call and its result
//! still match after rewriting.

/// The ids and tool names a dialect accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameRule {
    /// Characters other than ASCII letters and digits that are allowed.
    pub extra: &'static [char],
    pub max_len: usize,
}

/// Anthropic tool-use ids sent to Anthropic's API: `^[a-zA-Z0-9_-]+$`. No documented length
/// limit; 64 keeps a history portable to Bedrock, whose limit it is.
pub(crate) const ANTHROPIC_ID: NameRule = NameRule {
    extra: &['_', '-'],
    max_len: 64,
};

/// Tool-use ids the gateway gives Anthropic callers: Anthropic's charset, and room for the thought
/// signature (hundreds of characters) a Gemini call carries in its id (see
/// [`with_thought_signature`]), so that the caller hands it back whole. Neither the SDK nor the
/// gateway limits their length; a history sent on to Anthropic's API is cut to [`ANTHROPIC_ID`].
pub(crate) const ANTHROPIC_CALLER_ID: NameRule = NameRule {
    extra: &['_', '-'],
    max_len: 16_384,
};

/// Bedrock `ToolUseId`. The service model also allows `.` and `:`, but rewriting to the stricter
/// Anthropic charset keeps an id valid when the same history later goes to Claude.
pub(crate) const CONVERSE_ID: NameRule = ANTHROPIC_ID;

/// OpenAI and Bedrock tool names: `^[a-zA-Z0-9_-]{1,64}$`.
pub(crate) const OPENAI_TOOL_NAME: NameRule = NameRule {
    extra: &['_', '-'],
    max_len: 64,
};

pub(crate) const CONVERSE_TOOL_NAME: NameRule = OPENAI_TOOL_NAME;

/// Anthropic tool names: `^[a-zA-Z0-9_-]{1,128}$`.
pub(crate) const ANTHROPIC_TOOL_NAME: NameRule = NameRule {
    extra: &['_', '-'],
    max_len: 128,
};

/// Gemini function names: letters, digits, `_ . : -`, at most 64.
pub(crate) const GEMINI_TOOL_NAME: NameRule = NameRule {
    extra: &['_', '.', ':', '-'],
    max_len: 64,
};

impl NameRule {
    pub(crate) fn allows(&self, name: &str) -> bool {
        !name.is_empty()
            && name.len() <= self.max_len
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || self.extra.contains(&c))
    }
}

/// `id` itself when `rule` allows it; otherwise the id with every disallowed character replaced
/// by `_`, cut so that `_` and 16 hex digits of its FNV-1a hash fit, and followed by them. The hash
/// keeps two different ids apart after rewriting.
pub(crate) fn rewrite_id(id: &str, rule: NameRule) -> String {
    if rule.allows(id) {
        return id.to_owned();
    }
    let suffix = format!("_{:016x}", fnv1a(id.as_bytes()));
    let keep = rule.max_len.saturating_sub(suffix.len());
    let mut out: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || rule.extra.contains(&c) {
                c
            } else {
                '_'
            }
        })
        .take(keep)
        .collect();
    out.push_str(&suffix);
    out
}

/// A stable id for a tool call whose upstream gave none (older Gemini models), unique per answer
/// and position so that same-name parallel calls stay apart.
pub(crate) fn synthesize_call_id(answer_id: &str, position: usize, name: &str) -> String {
    let key = format!("{answer_id}/{position}/{name}");
    format!("call_{:016x}", fnv1a(key.as_bytes()))
}

/// Between a Gemini call id and the thought signature carried with it (see
/// [`with_thought_signature`]).
const SIGNATURE_MARK: &str = "__ts_";

/// A Gemini function call's id with its thought signature in it. Gemini 3 refuses a replayed
/// call without the signature it came with, and a caller in another dialect has nowhere to keep
/// it but the call's id, which every dialect echoes back verbatim, in the call and in its result.
/// The signature (base64) is written URL-safe and unpadded, so the id keeps to Anthropic's id
/// charset and the gateway stays stateless: any node can replay it.
pub(crate) fn with_thought_signature(id: &str, signature: &str) -> String {
    let mut out = String::with_capacity(id.len() + SIGNATURE_MARK.len() + signature.len());
    out.push_str(id);
    out.push_str(SIGNATURE_MARK);
    out.extend(signature.chars().filter_map(|c| match c {
        '+' => Some('-'),
        '/' => Some('_'),
        '=' => None,
        c => Some(c),
    }));
    out
}

/// The id and thought signature (standard base64, padded) of an id written by
/// [`with_thought_signature`]; any other id comes back whole, without a signature.
pub(crate) fn split_thought_signature(id: &str) -> (&str, Option<String>) {
    let Some((call_id, carried)) = id.split_once(SIGNATURE_MARK) else {
        return (id, None);
    };
    let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if call_id.is_empty() || carried.is_empty() || !carried.chars().all(url_safe) {
        return (id, None);
    }
    let mut signature: String = carried
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !signature.len().is_multiple_of(4) {
        signature.push('=');
    }
    (call_id, Some(signature))
}

/// 64-bit FNV-1a: tiny, stable across platforms and releases, good enough to keep ids apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn allowed_ids_are_kept() {
        assert_eq!(rewrite_id("toolu_01A-b", ANTHROPIC_ID), "toolu_01A-b");
    }

    #[test]
    fn foreign_ids_are_rewritten_stably_and_apart() {
        let a = rewrite_id("functions.Bash:0", ANTHROPIC_ID);
        let b = rewrite_id("functions.Bash_0", ANTHROPIC_ID);
        assert!(a.starts_with("functions_Bash_0_"));
        assert_ne!(a, b);
        assert_eq!(a, rewrite_id("functions.Bash:0", ANTHROPIC_ID));
        assert!(ANTHROPIC_ID.allows(&a));
    }

    #[test]
    fn thought_signatures_ride_in_ids_and_come_back_exactly() {
        // Padded and not, with `+` and `/`, and one whose URL-safe form holds the mark itself.
        for signature in ["+/8=", "CiQB+/==", "EqQBCqEB/a+b", "AAAA", "a//ts/b="] {
            let id = with_thought_signature("pt3pjoak", signature);
            assert!(ANTHROPIC_ID.allows(&id[..id.len().min(64)]), "{id}");
            let (call_id, back) = split_thought_signature(&id);
            assert_eq!(call_id, "pt3pjoak");
            assert_eq!(back.as_deref(), Some(signature));
        }
    }

    #[test]
    fn ids_without_a_signature_are_kept_whole() {
        for id in ["call_1", "pt3pjoak", "x__ts_", "__ts_abc", "a__ts_b+c"] {
            assert_eq!(split_thought_signature(id), (id, None));
        }
    }

    #[test]
    fn long_ids_are_cut_to_the_limit() {
        let long = "x".repeat(100);
        let out = rewrite_id(&long, CONVERSE_ID);
        assert_eq!(out.len(), 64);
        assert!(CONVERSE_ID.allows(&out));
    }
}
