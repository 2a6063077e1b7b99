//! What known upstream models can do, so requests go only where they can be served. Config overrides
//! any entry per deployment; unknown models are assumed capable (and say so in `switchyard check`).

use crate::model::Capabilities;

/// `(model id prefix, capabilities)`; the longest matching prefix wins.
const CATALOGUE: &[(&str, Capabilities)] = &[
    ("gpt-4o", chat(true, true, 128_000, 16_384)),
    ("gpt-4o-mini", chat(true, true, 128_000, 16_384)),
    ("gpt-4.1", chat(true, true, 1_047_576, 32_768)),
    ("gpt-4-turbo", chat(true, false, 128_000, 4_096)),
    ("gpt-3.5-turbo", chat(false, false, 16_385, 4_096)),
    ("gpt-5", chat(true, true, 400_000, 128_000)),
    ("o1", chat(true, true, 200_000, 100_000)),
    ("o3", chat(true, true, 200_000, 100_000)),
    ("o4-mini", chat(true, true, 200_000, 100_000)),
    ("text-embedding-3", embeddings(8_191)),
    ("text-embedding-ada-002", embeddings(8_191)),
];

const fn chat(vision: bool, json_schema: bool, context: u64, output: u64) -> Capabilities {
    Capabilities {
        chat: true,
        streaming: true,
        tools: true,
        vision,
        json_schema,
        embeddings: false,
        max_context_tokens: Some(context),
        max_output_tokens: Some(output),
        known: true,
    }
}

const fn embeddings(context: u64) -> Capabilities {
    Capabilities {
        chat: false,
        streaming: false,
        tools: false,
        vision: false,
        json_schema: false,
        embeddings: true,
        max_context_tokens: Some(context),
        max_output_tokens: None,
        known: true,
    }
}

/// The catalogue entry for an upstream model id (Azure deployment names and dated ids such as
/// `gpt-4o-2024-11-20` match by prefix), or permissive defaults for an unknown model.
pub fn lookup(upstream_model: &str) -> Capabilities {
    CATALOGUE
        .iter()
        .filter(|(prefix, _)| upstream_model.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(Capabilities::UNKNOWN, |(_, caps)| *caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_unknowns_are_permissive() {
        assert!(lookup("gpt-4o-2024-11-20").vision);
        assert_eq!(lookup("gpt-4o-mini").max_output_tokens, Some(16_384));
        assert!(!lookup("gpt-3.5-turbo-0125").vision);
        let embed = lookup("text-embedding-3-small");
        assert!(embed.embeddings && !embed.chat);
        let unknown = lookup("meta-llama/Llama-3.1-8B-Instruct");
        assert!(!unknown.known && unknown.chat && unknown.embeddings && unknown.tools);
        assert_eq!(unknown.max_context_tokens, None);
    }
}
