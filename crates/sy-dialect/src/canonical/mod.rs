//! The canonical model: requests, answers and stream events as Switchyard understands them,
//! independent of any dialect. No serde here: codecs convert explicitly.

mod json;
mod request;
mod response;
mod stream;
mod tool_order;

pub use json::RawJson;
pub use request::{
    CacheBreakpoint, Document, DocumentSource, Effort, Image, ImageSource, Message, Origin, Part,
    PartKind, Reasoning, ReasoningBlock, Request, ResponseFormat, Role, SystemPart, ToolCall,
    ToolChoice, ToolDefinition, ToolResult,
};
pub(crate) use request::{Setting, drop_cache_breakpoints};
pub use response::{FinishReason, OutputBlock, Response, Usage};
pub use stream::{StreamError, StreamErrorKind, StreamEvent};
pub(crate) use tool_order::ToolCallOrder;
