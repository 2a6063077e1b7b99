//! Request ids minted by the gateway for every call it answers.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The gateway's own id for one request, returned in `x-request-id` and logged next to the
/// upstream's id. A UUIDv7 (time-ordered, so logs sort naturally), minted without a system call:
/// the random part is a per-process seed mixed with a counter.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub fn mint() -> Self {
        let random = random_u64();
        let high = splitmix64(random);
        let mut tail = [0u8; 10];
        tail[..8].copy_from_slice(&random.to_le_bytes());
        tail[8..].copy_from_slice(&high.to_le_bytes()[..2]);
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &tail).into_uuid();
        let mut buf = [0u8; uuid::fmt::Simple::LENGTH];
        let mut id = String::with_capacity(4 + uuid::fmt::Simple::LENGTH);
        id.push_str("req_");
        id.push_str(uuid.simple().encode_lower(&mut buf));
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A fast, non-cryptographic random number: a per-process random seed mixed with a counter.
/// For ids and load spreading, never for secrets.
pub fn random_u64() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
        u64::from_le_bytes(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    splitmix64(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The splitmix64 mixer: a bijection that scatters nearby inputs, for seeds and deterministic noise.
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
    fn ids_are_unique_prefixed_and_uuid_v7() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| RequestId::mint().0).collect();
        assert_eq!(ids.len(), 10_000);
        let id = RequestId::mint();
        assert!(id.as_str().starts_with("req_"));
        assert_eq!(id.as_str().len(), 4 + 32);
        let uuid = uuid::Uuid::parse_str(&id.as_str()[4..]).expect("uuid");
        assert_eq!(uuid.get_version_num(), 7);
    }
}
