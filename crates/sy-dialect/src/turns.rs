//! Conversation shaping for dialects that need strictly alternating turns (Anthropic, Converse,
//! Gemini): blank text dropped, empty turns dropped, consecutive same-role turns merged, and tool
//! results first in their turn.

use crate::canonical::{Message, Part, PartKind, Role};

/// One turn after shaping, borrowing the request's parts.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    pub role: Role,
    pub parts: Vec<&'a Part>,
    /// The caller's path of the first message merged into this turn.
    pub origin: &'a str,
}

pub(crate) fn alternating_turns(messages: &[Message]) -> Vec<Turn<'_>> {
    let mut turns: Vec<Turn<'_>> = Vec::new();
    for message in messages {
        let parts: Vec<&Part> = message.content.iter().filter(|p| !is_blank(p)).collect();
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(last) if last.role == message.role => last.parts.extend(parts),
            _ => turns.push(Turn {
                role: message.role,
                parts,
                origin: &message.origin,
            }),
        }
    }
    for turn in &mut turns {
        // Anthropic wants the results for the previous turn's calls at the start of the turn.
        turn.parts
            .sort_by_key(|p| !matches!(p.kind, PartKind::ToolResult(_)));
    }
    turns
}

/// Blank text is rejected by Bedrock and carries nothing anywhere.
fn is_blank(part: &Part) -> bool {
    matches!(&part.kind, PartKind::Text(text) if text.trim().is_empty())
}

/// Whether any turn holds a tool call or result (Converse then requires a tool configuration).
pub(crate) fn has_tool_blocks(messages: &[Message]) -> bool {
    messages
        .iter()
        .flat_map(|m| &m.content)
        .any(|p| matches!(p.kind, PartKind::ToolCall(_) | PartKind::ToolResult(_)))
}

/// Whether Claude would refuse thinking for this conversation: with thinking on, the last
/// assistant turn, when it calls tools, must open with its signed thinking replayed unmodified
/// (E16), and callers of dialects with no field for it (OpenAI Chat) cannot send it back.
pub(crate) fn tool_turn_without_thinking(messages: &[Message]) -> bool {
    let turns = alternating_turns(messages);
    let Some(last) = turns.iter().rev().find(|t| t.role == Role::Assistant) else {
        return false;
    };
    let calls = last
        .parts
        .iter()
        .any(|p| matches!(p.kind, PartKind::ToolCall(_)));
    let opens_with_thinking = match last.parts.first().map(|p| &p.kind) {
        Some(PartKind::Reasoning(reasoning)) => reasoning.signature.is_some(),
        Some(PartKind::RedactedReasoning(_)) => true,
        _ => false,
    };
    calls && !opens_with_thinking
}
