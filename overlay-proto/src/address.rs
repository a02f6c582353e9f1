//! [`PeerAddress`]: `host[:port]` with an IPv4 address, an IPv6 address or a host name
//! (PROTOCOL.md §11.5).
//!
//! stellar-core speaks IPv4 only; IPv6 parses here so that tools can name such peers, but
//! the XDR conversion used for PEERS keeps IPv4 and IPv6 apart and the node ignores IPv6
//! entries as stellar-core does (§10.4).

use crate::error::AddressError;
use crate::version::DEFAULT_PEER_PORT;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::str::FromStr;
use stellar_xdr::PeerAddressIp;

/// The host part of a peer address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// A literal IP address.
    Ip(IpAddr),
    /// A host name of `[A-Za-z0-9.-]`, to be resolved by a driver.
    Name(String),
}

/// A peer's address: host and port.
///
/// ```
/// use overlay_proto::{Host, PeerAddress};
///
/// let a: PeerAddress = "1.2.3.4".parse().unwrap();
/// assert_eq!(a.port, 11625); // the default PEER_PORT
/// let b: PeerAddress = "core-testnet1.stellar.org:11626".parse().unwrap();
/// assert_eq!(b.host, Host::Name("core-testnet1.stellar.org".into()));
/// let c: PeerAddress = "[::1]:5".parse().unwrap();
/// assert_eq!(c.to_string(), "[::1]:5");
/// assert!("1.2.3.4:0".parse::<PeerAddress>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerAddress {
    /// The host.
    pub host: Host,
    /// The port, 1 to 65535.
    pub port: u16,
}

impl PeerAddress {
    /// An address from a host string (IP literal or name) and a port. A host that does not
    /// parse as an IP address is kept as a name and checked when it is resolved.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let host = host.into();
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(host),
        };
        PeerAddress { host, port }
    }

    /// An address from an IP socket address.
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        PeerAddress { host: Host::Ip(addr.ip()), port: addr.port() }
    }

    /// Parse `host[:port]`, using `default_port` when no port is given.
    pub fn parse_with_default_port(s: &str, default_port: u16) -> Result<Self, AddressError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        let (host, port) = split_host_port(s)?;
        let port = match port {
            None => default_port,
            Some(p) => parse_port(p)?,
        };
        if port == 0 {
            return Err(AddressError::InvalidPort);
        }
        Ok(PeerAddress { host: parse_host(host)?, port })
    }

    /// The IP address, if the host is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.host {
            Host::Ip(ip) => Some(ip),
            Host::Name(_) => None,
        }
    }

    /// The socket address, if the host is a literal.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip().map(|ip| SocketAddr::new(ip, self.port))
    }

    /// Whether the host is an IPv4 private address: 10.0.0.0/8, 172.16.0.0/12 or
    /// 192.168.0.0/16 (§10.4).
    pub fn is_private(&self) -> bool {
        matches!(self.host, Host::Ip(IpAddr::V4(v4)) if v4.is_private())
    }

    /// Whether the host is an IPv4 or IPv6 loopback address.
    pub fn is_loopback(&self) -> bool {
        matches!(self.host, Host::Ip(ip) if ip.is_loopback())
    }

    /// The XDR `PeerAddress` with `numFailures = 0`, for an IP literal.
    pub fn to_xdr(&self) -> Option<stellar_xdr::PeerAddress> {
        let ip = match self.ip()? {
            IpAddr::V4(v4) => PeerAddressIp::IPv4(v4.octets()),
            IpAddr::V6(v6) => PeerAddressIp::IPv6(v6.octets()),
        };
        Some(stellar_xdr::PeerAddress { ip, port: u32::from(self.port), num_failures: 0 })
    }

    /// From an XDR `PeerAddress`; the port must be 1 to 65535.
    pub fn from_xdr(addr: &stellar_xdr::PeerAddress) -> Result<Self, AddressError> {
        let port = u16::try_from(addr.port).ok().filter(|p| *p != 0).ok_or(AddressError::PortOutOfRange(addr.port))?;
        let ip = match addr.ip {
            PeerAddressIp::IPv4(o) => IpAddr::V4(Ipv4Addr::from(o)),
            PeerAddressIp::IPv6(o) => IpAddr::V6(Ipv6Addr::from(o)),
        };
        Ok(PeerAddress { host: Host::Ip(ip), port })
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<&str>), AddressError> {
    if let Some(rest) = s.strip_prefix('[') {
        // [v6]:port or [v6]
        let (host, after) = rest.split_once(']').ok_or(AddressError::InvalidHost)?;
        return match after {
            "" => Ok((host, None)),
            _ => after.strip_prefix(':').map(|p| (host, Some(p))).ok_or(AddressError::InvalidPort),
        };
    }
    if s.matches(':').count() > 1 {
        // A bare IPv6 literal cannot carry a port.
        return Ok((s, None));
    }
    Ok(match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    })
}

fn parse_port(p: &str) -> Result<u16, AddressError> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::InvalidPort);
    }
    p.parse::<u16>().map_err(|_| AddressError::InvalidPort)
}

fn parse_host(h: &str) -> Result<Host, AddressError> {
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(Host::Ip(ip));
    }
    let name_chars = h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    // All-numeric dotted strings that are not IPv4 ("127.0.0.256") are invalid, not names.
    let numeric = h.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if h.is_empty() || !name_chars || numeric || h.starts_with(['.', '-']) || h.len() > 253 {
        return Err(AddressError::InvalidHost);
    }
    Ok(Host::Name(h.to_ascii_lowercase()))
}

impl FromStr for PeerAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeerAddress::parse_with_default_port(s, DEFAULT_PEER_PORT)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl From<SocketAddr> for PeerAddress {
    fn from(a: SocketAddr) -> Self {
        PeerAddress::from_socket_addr(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases of PeerManagerTests "parse peer record".
    #[test]
    fn parse_peer_record_cases() {
        let bad = [
            "",
            "random string",
            "127.0.0.256",
            "127.0.0.1/8",
            "1.2.3.4:",
            "1.2.3.4:-1",
            "1.2.3.4:0",
            "1.2.3.4:65536",
            "1.2.3.4:65537",
            "2001:db8::1/64",
            "[::1",
            "[::1]x",
            "-host",
        ];
        for s in bad {
            assert!(s.parse::<PeerAddress>().is_err(), "{s:?} should not parse");
        }
        let a: PeerAddress = "127.0.0.1".parse().unwrap();
        assert_eq!(a.port, 11625);
        assert_eq!(PeerAddress::parse_with_default_port("127.0.0.1", 1234).unwrap().port, 1234);
        for p in [1u16, 2, 1024, 65535] {
            assert_eq!(format!("1.2.3.4:{p}").parse::<PeerAddress>().unwrap().port, p);
        }
        assert_eq!("::1".parse::<PeerAddress>().unwrap().ip(), Some("::1".parse().unwrap()));
        assert_eq!("Example.COM:80".parse::<PeerAddress>().unwrap().host, Host::Name("example.com".into()));
    }

    // PeerManagerTests "toXdr": 1.25.50.200:256, numFailures 0.
    #[test]
    fn to_xdr_encodes_ipv4_and_port() {
        let a: PeerAddress = "1.25.50.200:256".parse().unwrap();
        let x = a.to_xdr().unwrap();
        assert_eq!(x.ip, PeerAddressIp::IPv4([1, 25, 50, 200]));
        assert_eq!((x.port, x.num_failures), (256, 0));
        assert_eq!(PeerAddress::from_xdr(&x).unwrap(), a);
        let bad = stellar_xdr::PeerAddress { port: 70000, ..x };
        assert_eq!(PeerAddress::from_xdr(&bad), Err(AddressError::PortOutOfRange(70000)));
        assert!(PeerAddress::new("name", 1).to_xdr().is_none());
    }

    // PeerManagerTests "private addresses".
    #[test]
    fn private_ranges() {
        for p in ["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1"] {
            assert!(p.parse::<PeerAddress>().unwrap().is_private(), "{p}");
        }
        for p in ["11.1.2.3", "172.32.0.1", "192.169.1.1", "127.0.0.1"] {
            assert!(!p.parse::<PeerAddress>().unwrap().is_private(), "{p}");
        }
    }
}
