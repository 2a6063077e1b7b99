//! Tool names a target does not allow (an MCP client's `github.create_issue`, a 100-character
//! Anthropic name sent to a target that takes 64) are renamed for the request, the same way every
//! time, and the answer's calls get their caller's names back (PROTOCOLS E27).

use crate::canonical::{PartKind, Request, ToolChoice};
use crate::ids::{NameRule, rewrite_id};

/// One request's renamed tools: every name it declares, forces or calls in its history that the
/// target's rule does not allow.
#[derive(Debug)]
pub(crate) struct ToolNames {
    /// (the caller's name, the name sent).
    renamed: Vec<(String, String)>,
}

impl ToolNames {
    pub(crate) fn for_request(request: &Request, rule: NameRule) -> Self {
        let mut renamed: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str| {
            if !rule.allows(name) && !renamed.iter().any(|(caller, _)| caller == name) {
                renamed.push((name.to_owned(), rewrite_id(name, rule)));
            }
        };
        for tool in &request.tools {
            add(&tool.name);
        }
        if let Some(ToolChoice::Named(name)) = &request.tool_choice {
            add(name);
        }
        for part in request.messages.iter().flat_map(|m| &m.content) {
            if let PartKind::ToolCall(call) = &part.kind {
                add(&call.name);
            }
        }
        Self { renamed }
    }

    /// The name the target is sent for `name`.
    pub(crate) fn sent<'s>(&'s self, name: &'s str) -> &'s str {
        self.renamed
            .iter()
            .find(|(caller, _)| caller == name)
            .map_or(name, |(_, sent)| sent)
    }

    /// (name sent, caller's name) pairs, for the answer's decoder (see
    /// [`Translation::restore_tool_name`](crate::Translation::restore_tool_name)).
    pub(crate) fn into_sent_to_caller(self) -> Vec<(String, String)> {
        self.renamed
            .into_iter()
            .map(|(caller, sent)| (sent, caller))
            .collect()
    }
}
