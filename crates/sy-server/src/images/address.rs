//! Which addresses the gateway may fetch an image from: only globally routable unicast ones.
//!
//! A pure function over one address, so the whole policy is tested without sockets. It errs on
//! the side of refusing: ranges that are reserved, deprecated or special-purpose are refused even
//! where some of their addresses could in theory be reached.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether an image may be fetched from `ip`: a publicly routable unicast address, never one
/// inside the gateway's own network, the host itself, or a cloud's metadata service.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    /// Every IPv4 range that is not global unicast (IANA special-purpose registry, RFC 6890 and
    /// successors), plus multicast and the reserved class E.
    const REFUSED: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network", incl. the unspecified 0.0.0.0
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // carrier-grade NAT (shared address space)
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local, incl. cloud metadata 169.254.169.254
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24), // IETF protocol assignments (incl. 192.0.0.192 metadata on some clouds)
        ([192, 0, 2, 0], 24), // documentation (TEST-NET-1)
        ([192, 88, 99, 0], 24), // 6to4 relay anycast (deprecated)
        ([192, 168, 0, 0], 16), // private
        ([198, 18, 0, 0], 15), // benchmarking
        ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
        ([203, 0, 113, 0], 24), // documentation (TEST-NET-3)
        ([224, 0, 0, 0], 4),  // multicast
        ([240, 0, 0, 0], 4),  // reserved, incl. the broadcast 255.255.255.255
    ];
    !REFUSED.iter().any(|&(net, prefix)| in_v4(ip, net, prefix))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// The IPv4 address in the last 32 bits.
fn low_v4(ip: Ipv6Addr) -> Ipv4Addr {
    Ipv4Addr::from((u128::from(ip) & 0xffff_ffff) as u32)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Forms that carry an IPv4 address a host or a NAT64 gateway would reach: judged by it.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) {
        return is_public_v4(low_v4(ip)); // IPv4-mapped ::ffff:a.b.c.d
    }
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return is_public_v4(low_v4(ip)); // well-known NAT64 prefix
    }
    // Only global unicast (2000::/3) is ever fetched from; that already leaves out the
    // unspecified and loopback addresses, IPv4-compatible ::a.b.c.d (deprecated), the local-use
    // NAT64 prefix 64:ff9b:1::/48, discard-only 100::/64, unique-local fc00::/7, link-local
    // fe80::/10, site-local fec0::/10 and multicast ff00::/8.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return false;
    }
    /// Special-purpose ranges inside 2000::/3.
    const REFUSED: &[([u16; 8], u32)] = &[
        // IETF protocol assignments: Teredo 2001::/32 (an obfuscated IPv4 inside), benchmarking
        // 2001:2::/48, ORCHID and others.
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
        ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16),     // 6to4: an IPv4 address inside, often private
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),     // documentation (RFC 9637)
        ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),     // segment routing (SRv6) SIDs
    ];
    !REFUSED.iter().any(|&(net, prefix)| in_v6(ip, net, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(text: &str) -> bool {
        is_public(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",  // just below CGNAT
            "100.128.0.0",     // just above CGNAT
            "172.15.255.255",  // just below 172.16/12
            "172.32.0.0",      // just above
            "192.167.255.255", // just below 192.168/16
            "198.17.255.255",  // just below benchmarking
            "198.20.0.0",      // just above
            "223.255.255.255", // the last unicast address
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:4860:4860::8888", // outside 2001::/23
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert!(allowed(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn every_non_public_ipv4_range_is_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254", // cloud metadata
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.192",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.0.1",
            "192.168.255.255",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!allowed(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn every_non_public_ipv6_range_is_refused() {
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "64:ff9b:1::1",
            "2001::1",           // Teredo
            "2001:2::1",         // benchmarking
            "2001:10::1",        // ORCHID
            "2001:db8::1",       // documentation
            "3fff::1",           // documentation
            "2002:c0a8:0101::1", // 6to4 of 192.168.1.1
            "2002:0808:0808::1", // 6to4 is refused whatever it wraps
            "5f00::1",
            "4000::1", // outside global unicast
        ] {
            assert!(!allowed(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_by_the_ipv4_address() {
        for v4 in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
        ] {
            for form in [
                format!("::ffff:{v4}"),   // IPv4-mapped
                format!("::{v4}"),        // IPv4-compatible (deprecated; all refused)
                format!("64:ff9b::{v4}"), // NAT64
            ] {
                assert!(!allowed(&form), "{form} should be refused");
            }
        }
        assert!(
            !allowed("::8.8.8.8"),
            "IPv4-compatible forms are refused outright"
        );
    }
}
