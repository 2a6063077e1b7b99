//! Request ids minted by the gateway for every call it answers.

use std::fmt;

/// The gateway's own id for one request, returned in `x-request-id` and logged
/// next to the upstream's id. Time-ordered (UUIDv7) so logs sort naturally.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub fn mint() -> Self {
        let uuid = uuid::Uuid::now_v7();
        let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
        Self(format!("req_{}", uuid.simple().encode_lower(&mut buf)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_prefixed() {
        let a = RequestId::mint();
        let b = RequestId::mint();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("req_"));
        assert_eq!(a.as_str().len(), 4 + 32);
    }
}
