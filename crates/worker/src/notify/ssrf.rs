//! Server-side request forgery checks of notification targets. A workspace admin chooses the
//! URL, but the worker sends from inside the operator's network: without these checks an
//! endpoint could reach the cloud metadata service, the database, or anything else only
//! the worker can reach.
//!
//! The check is made at send time, after DNS resolution, on every address the name resolves
//! to (refused if any one is refused), and the request then connects to exactly the checked
//! addresses: a name that resolves differently a moment later (DNS rebinding) is never
//! looked up again.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// A CIDR network (`10.0.0.0/8`, `fd00::/8`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

/// Why a network could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a network like 10.0.0.0/8 or fd00::/8: {reason}")]
pub struct NetworkError {
    pub text: String,
    pub reason: &'static str,
}

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = |reason| NetworkError {
            text: text.to_owned(),
            reason,
        };
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let base: IpAddr = address.parse().map_err(|_| refuse("not an IP address"))?;
        let width = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= width)
                .ok_or_else(|| refuse("the prefix length is not a number within the address"))?,
        };
        if masked(base, prefix) != base {
            return Err(refuse("bits are set after the prefix length"));
        }
        Ok(Network { base, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn masked(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

impl Network {
    pub fn contains(&self, address: IpAddr) -> bool {
        address.is_ipv4() == self.base.is_ipv4() && masked(address, self.prefix) == self.base
    }
}

/// `NOTIFY_ALLOWED_NETWORKS`: networks the operator allows although they are refused by
/// default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedNetworks(Vec<Network>);

impl AllowedNetworks {
    /// Comma-separated networks; empty allows none.
    pub fn parse(list: &str) -> Result<Self, NetworkError> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Network::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(AllowedNetworks)
    }

    /// Whether `address` (or the IPv4 address an IPv4-mapped one carries) is in a listed
    /// network.
    pub fn allows(&self, address: IpAddr) -> bool {
        let canonical = address.to_canonical();
        self.0
            .iter()
            .any(|network| network.contains(address) || network.contains(canonical))
    }
}

/// Why an address is refused by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    Unspecified,
    Loopback,
    Private,
    SharedAddressSpace,
    LinkLocal,
    Metadata,
    Multicast,
    Broadcast,
    Documentation,
    Reserved,
}

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forbidden::Unspecified => "an unspecified address",
            Forbidden::Loopback => "a loopback address",
            Forbidden::Private => "a private address",
            Forbidden::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Forbidden::LinkLocal => "a link-local address",
            Forbidden::Metadata => "a cloud metadata service address",
            Forbidden::Multicast => "a multicast address",
            Forbidden::Broadcast => "the broadcast address",
            Forbidden::Documentation => "a documentation address",
            Forbidden::Reserved => "a reserved or special-purpose address",
        })
    }
}

fn in_v4(address: Ipv4Addr, base: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(address) & mask == u32::from(Ipv4Addr::from(base))
}

fn in_v6(address: Ipv6Addr, base: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(address) & mask == u128::from(base)
}

/// Why `address` is refused by default, or `None` for a public unicast address.
pub fn forbidden(address: IpAddr) -> Option<Forbidden> {
    match address {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(address: Ipv4Addr) -> Option<Forbidden> {
    // Most specific first: the metadata address lies inside link-local.
    let table: &[([u8; 4], u32, Forbidden)] = &[
        ([169, 254, 169, 254], 32, Forbidden::Metadata),
        ([255, 255, 255, 255], 32, Forbidden::Broadcast),
        ([0, 0, 0, 0], 8, Forbidden::Unspecified),
        ([127, 0, 0, 0], 8, Forbidden::Loopback),
        ([10, 0, 0, 0], 8, Forbidden::Private),
        ([172, 16, 0, 0], 12, Forbidden::Private),
        ([192, 168, 0, 0], 16, Forbidden::Private),
        ([100, 64, 0, 0], 10, Forbidden::SharedAddressSpace),
        ([169, 254, 0, 0], 16, Forbidden::LinkLocal),
        ([192, 0, 0, 0], 24, Forbidden::Reserved),
        ([192, 0, 2, 0], 24, Forbidden::Documentation),
        ([198, 51, 100, 0], 24, Forbidden::Documentation),
        ([203, 0, 113, 0], 24, Forbidden::Documentation),
        ([198, 18, 0, 0], 15, Forbidden::Reserved),
        ([224, 0, 0, 0], 4, Forbidden::Multicast),
        ([240, 0, 0, 0], 4, Forbidden::Reserved),
    ];
    table
        .iter()
        .find(|(base, prefix, _)| in_v4(address, *base, *prefix))
        .map(|(_, _, why)| *why)
}

fn forbidden_v6(address: Ipv6Addr) -> Option<Forbidden> {
    // Addresses that carry an IPv4 address reach it: judged by the IPv4 address.
    if let Some(v4) = embedded_v4(address) {
        return forbidden_v4(v4);
    }
    let table: &[(Ipv6Addr, u32, Forbidden)] = &[
        (Ipv6Addr::UNSPECIFIED, 128, Forbidden::Unspecified),
        (Ipv6Addr::LOCALHOST, 128, Forbidden::Loopback),
        (
            Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
            128,
            Forbidden::Metadata,
        ),
        (
            Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
            7,
            Forbidden::Private,
        ),
        (
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
            10,
            Forbidden::LinkLocal,
        ),
        // Site-local, deprecated but still routed by some networks as private.
        (
            Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
            10,
            Forbidden::Private,
        ),
        (
            Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
            8,
            Forbidden::Multicast,
        ),
        (
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
            32,
            Forbidden::Documentation,
        ),
        // Local-use NAT64 (RFC 8215) translates into the operator's own IPv4 networks.
        (
            Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
            48,
            Forbidden::Private,
        ),
        // Teredo tunnels, discard-only, the rest of the IPv4-compatible range.
        (
            Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
            32,
            Forbidden::Reserved,
        ),
        (
            Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
            64,
            Forbidden::Reserved,
        ),
        (Ipv6Addr::UNSPECIFIED, 96, Forbidden::Reserved),
    ];
    table
        .iter()
        .find(|(base, prefix, _)| in_v6(address, *base, *prefix))
        .map(|(_, _, why)| *why)
}

/// The IPv4 address an IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4
/// (`2002:aabb:ccdd::`) address reaches.
fn embedded_v4(address: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(address);
    if in_v6(address, Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96)
        || in_v6(address, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)
    {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if in_v6(address, Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

/// A target the worker will not send to. Final: retrying cannot change the answer until
/// the operator changes `NOTIFY_ALLOWED_NETWORKS` or the admin the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("refused: {address} is {why}; allow it with NOTIFY_ALLOWED_NETWORKS")]
    Address { address: IpAddr, why: Forbidden },
    #[error("refused: {host} resolves to no address")]
    NoAddress { host: String },
}

/// Refuses `addresses` unless every one is public or allowed.
pub fn check_all(
    host: &str,
    addresses: &[SocketAddr],
    allowed: &AllowedNetworks,
) -> Result<(), Refusal> {
    if addresses.is_empty() {
        return Err(Refusal::NoAddress {
            host: host.to_owned(),
        });
    }
    for socket in addresses {
        let address = socket.ip();
        if allowed.allows(address) {
            continue;
        }
        if let Some(why) = forbidden(address) {
            return Err(Refusal::Address { address, why });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(text: &str) -> Option<Forbidden> {
        forbidden(text.parse().expect("address"))
    }

    #[test]
    fn public_addresses_pass() {
        for text in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert_eq!(why(text), None, "{text}");
        }
    }

    #[test]
    fn every_special_range_is_refused() {
        let cases = [
            ("127.0.0.1", Forbidden::Loopback),
            ("127.255.0.9", Forbidden::Loopback),
            ("0.0.0.0", Forbidden::Unspecified),
            ("10.1.2.3", Forbidden::Private),
            ("172.16.0.1", Forbidden::Private),
            ("172.31.255.255", Forbidden::Private),
            ("192.168.1.1", Forbidden::Private),
            ("100.64.0.1", Forbidden::SharedAddressSpace),
            ("169.254.10.1", Forbidden::LinkLocal),
            ("169.254.169.254", Forbidden::Metadata),
            ("224.0.0.1", Forbidden::Multicast),
            ("255.255.255.255", Forbidden::Broadcast),
            ("192.0.2.7", Forbidden::Documentation),
            ("203.0.113.9", Forbidden::Documentation),
            ("240.0.0.1", Forbidden::Reserved),
            ("::", Forbidden::Unspecified),
            ("::1", Forbidden::Loopback),
            ("fe80::1", Forbidden::LinkLocal),
            ("fc00::1", Forbidden::Private),
            ("fd12:3456::1", Forbidden::Private),
            ("fd00:ec2::254", Forbidden::Metadata),
            ("ff02::1", Forbidden::Multicast),
            ("2001:db8::1", Forbidden::Documentation),
            ("::ffff:127.0.0.1", Forbidden::Loopback),
            ("::ffff:169.254.169.254", Forbidden::Metadata),
            ("::ffff:10.0.0.1", Forbidden::Private),
            ("64:ff9b::a00:1", Forbidden::Private),
            ("2002:7f00:1::", Forbidden::Loopback),
            ("::127.0.0.1", Forbidden::Reserved),
        ];
        for (text, expected) in cases {
            assert_eq!(why(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn networks_parse_and_contain() {
        let allowed = AllowedNetworks::parse(" 127.0.0.0/8, fd12::/16 ,10.0.0.5").expect("list");
        assert!(allowed.allows("127.0.0.1".parse().expect("ip")));
        assert!(allowed.allows("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(allowed.allows("fd12:1::1".parse().expect("ip")));
        assert!(allowed.allows("10.0.0.5".parse().expect("ip")));
        assert!(!allowed.allows("10.0.0.6".parse().expect("ip")));
        assert!(!allowed.allows("::1".parse().expect("ip")));
        assert_eq!(
            AllowedNetworks::parse("").expect("empty"),
            AllowedNetworks::default()
        );
        assert!(
            AllowedNetworks::parse("10.0.0.1/8").is_err(),
            "host bits set"
        );
        assert!(AllowedNetworks::parse("10.0.0.0/33").is_err());
        assert!(AllowedNetworks::parse("localhost").is_err());
        let all = AllowedNetworks::parse("0.0.0.0/0").expect("everything");
        assert!(all.allows("169.254.169.254".parse().expect("ip")));
    }

    #[test]
    fn one_refused_address_refuses_the_name() {
        let addresses: Vec<SocketAddr> = vec![
            "93.184.216.34:443".parse().expect("addr"),
            "10.0.0.1:443".parse().expect("addr"),
        ];
        let refusal = check_all("rebind.example", &addresses, &AllowedNetworks::default())
            .expect_err("refused");
        assert_eq!(
            refusal.to_string(),
            "refused: 10.0.0.1 is a private address; allow it with NOTIFY_ALLOWED_NETWORKS"
        );
        assert!(check_all("none.example", &[], &AllowedNetworks::default()).is_err());
    }
}
