//! Randomness and the small text encodings key material is written in (base32, base64, hex).

use ring::rand::SecureRandom;

/// RFC 4648 base32, lower case (key ids).
pub(crate) const BASE32_LOWER: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// RFC 4648 base32, upper case (AWS-style access key ids).
pub(crate) const BASE32_UPPER: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// RFC 4648 base64url (secrets travel in headers and URLs).
pub(crate) const BASE64_URL: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// RFC 4648 base64, the alphabet AWS secret access keys use.
pub(crate) const BASE64_STD: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `N` bytes from the operating system's secure random source.
pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[expect(
        clippy::expect_used,
        reason = "the OS random source only fails on a broken system; minting a weak key instead is worse"
    )]
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random source failed");
    buf
}

/// Base32 (32 symbols) or base64 (64 symbols) without padding, most significant bits first.
pub(crate) fn encode(bytes: &[u8], alphabet: &[u8]) -> String {
    let bits = alphabet.len().trailing_zeros();
    debug_assert!(
        alphabet.len() == 1 << bits,
        "alphabet size is a power of two"
    );
    let mask = (1u32 << bits) - 1;
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(bits as usize));
    let (mut acc, mut held) = (0u32, 0u32);
    for &byte in bytes {
        acc = (acc << 8) | u32::from(byte);
        held += 8;
        while held >= bits {
            held -= bits;
            out.push(char::from(alphabet[((acc >> held) & mask) as usize]));
        }
        acc &= (1 << held) - 1;
    }
    if held > 0 {
        out.push(char::from(
            alphabet[((acc << (bits - held)) & mask) as usize],
        ));
    }
    out
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    encode(bytes, b"0123456789abcdef")
}
