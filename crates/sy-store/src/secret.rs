//! Key material: secrets from 256 random bits, shown once, stored only as a SHA-256.

use crate::encode::{BASE32_LOWER, BASE32_UPPER, BASE64_STD, BASE64_URL, encode, random};

/// A freshly minted key, secret included. Show [`KeyMaterial::secret`] to the caller once.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// `key_...`, public.
    pub id: String,
    /// `sk-sy-` followed by 43 base64url characters (256 random bits).
    pub secret: String,
    /// The first ten characters of `secret`.
    pub prefix: String,
    pub hash: [u8; 32],
    /// `(access_key_id, secret_access_key)` when an AWS-style pair was asked for.
    pub aws: Option<(String, String)>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Mints a key (and an AWS-style access key pair when `aws`).
pub fn mint_key(aws: bool) -> KeyMaterial {
    // 128 bits make ids unique without coordination between nodes.
    let id = format!("key_{}", encode(&random::<16>(), BASE32_LOWER));
    let secret = format!("sk-sy-{}", encode(&random::<32>(), BASE64_URL));
    let prefix = secret.chars().take(10).collect();
    let hash = hash_key(&secret);
    // 10 bytes are exactly 16 base32 characters and 30 bytes exactly 40 base64 characters, the
    // lengths AWS uses for access key ids and secret access keys.
    let aws = aws.then(|| {
        (
            format!("AKSY{}", encode(&random::<10>(), BASE32_UPPER)),
            encode(&random::<30>(), BASE64_STD),
        )
    });
    KeyMaterial {
        id,
        secret,
        prefix,
        hash,
        aws,
    }
}

/// SHA-256 of a presented secret, the form keys are stored and looked up by.
pub fn hash_key(secret: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// A fresh id for a store handle holding budget money: `node-` and 16 random base32 characters.
pub(crate) fn node_id() -> String {
    format!("node-{}", encode(&random::<10>(), BASE32_LOWER))
}
