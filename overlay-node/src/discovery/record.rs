//! [`PeerType`], [`PeerRecord`] and the type-update rule (PROTOCOL.md §10.1, §10.3).

use super::error::StoreError;
use core::net::{IpAddr, Ipv4Addr};
use overlay_proto::{Host, PeerAddress, Timestamp};

/// How a peer is known: the `type` column of the `peers` table.
///
/// The order of preference is `Preferred` > `Outbound` > `Inbound`: the connection loop
/// dials preferred records first, then outbound ones, then tries to "promote" inbound ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerType {
    /// Learned from PEERS or seen connecting to us; never dialed successfully. `INBOUND = 0`.
    Inbound = 0,
    /// A configured known peer, or one we dialed and that answered with a valid HELLO.
    /// `OUTBOUND = 1`.
    Outbound = 1,
    /// A configured preferred peer (`PREFERRED_PEERS`). `PREFERRED = 2`.
    Preferred = 2,
}

impl PeerType {
    /// All types, in column-value order.
    pub const ALL: [PeerType; 3] = [PeerType::Inbound, PeerType::Outbound, PeerType::Preferred];

    /// The integer stored in the `type` column.
    pub const fn as_db_int(self) -> i64 {
        self as i64
    }

    /// The type of a `type` column value; any other value is [`StoreError::InvalidRow`].
    pub const fn from_db_int(value: i64) -> Result<PeerType, StoreError> {
        match value {
            0 => Ok(PeerType::Inbound),
            1 => Ok(PeerType::Outbound),
            2 => Ok(PeerType::Preferred),
            _ => Err(StoreError::InvalidRow),
        }
    }

    /// The stored type after a connection observed the peer as `observed` (§10.3,
    /// stellar-core `PeerManager::update(address, observedType, preferredTypeKnown)`):
    ///
    /// * observed `Preferred` → `Preferred`;
    /// * observed `Outbound` → `Outbound` if stored `Preferred` and `preferred_known`
    ///   (the peer is now known not to be preferred); otherwise `Inbound` becomes
    ///   `Outbound` and `Preferred` stays;
    /// * observed `Inbound` → `Preferred` becomes `Outbound`, otherwise unchanged.
    ///
    /// ```
    /// use overlay_node::discovery::PeerType::*;
    /// assert_eq!(Inbound.after_observation(Outbound, true), Outbound);
    /// assert_eq!(Preferred.after_observation(Outbound, false), Preferred);
    /// assert_eq!(Preferred.after_observation(Outbound, true), Outbound);
    /// assert_eq!(Outbound.after_observation(Inbound, true), Outbound);
    /// ```
    pub const fn after_observation(self, observed: PeerType, preferred_known: bool) -> PeerType {
        match (observed, self) {
            (PeerType::Preferred, _) => PeerType::Preferred,
            (PeerType::Outbound, PeerType::Preferred) if preferred_known => PeerType::Outbound,
            (PeerType::Outbound, PeerType::Inbound) => PeerType::Outbound,
            (PeerType::Inbound, PeerType::Preferred) => PeerType::Outbound,
            (_, stored) => stored,
        }
    }
}

/// One row of the `peers` table: what we know about an `ip:port`.
///
/// `address` must be an IPv4 literal with a non-zero port; stores check it with
/// [`ipv4_key`] and refuse anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// The peer's address (IPv4 literal, port 1..=65535).
    pub address: PeerAddress,
    /// Not to be dialed before this time (`nextattempt`).
    pub next_attempt: Timestamp,
    /// Consecutive failed or unconfirmed connection attempts (`numfailures`).
    pub num_failures: u32,
    /// How the peer is known (`type`).
    pub peer_type: PeerType,
}

impl PeerRecord {
    /// The record stellar-core creates for an address it did not know (§10.1): `Inbound`,
    /// 0 failures, `next_attempt = now`. Fails if the address is not IPv4 with a port.
    ///
    /// ```
    /// use overlay_node::discovery::{PeerRecord, PeerType};
    /// use overlay_proto::Timestamp;
    /// let r = PeerRecord::new("1.2.3.4:11625".parse().unwrap(), Timestamp::from_secs(7)).unwrap();
    /// assert_eq!((r.peer_type, r.num_failures, r.next_attempt), (PeerType::Inbound, 0, Timestamp::from_secs(7)));
    /// assert!(PeerRecord::new("example.com:1".parse().unwrap(), Timestamp::ZERO).is_err());
    /// ```
    pub fn new(address: PeerAddress, now: Timestamp) -> Result<PeerRecord, StoreError> {
        ipv4_key(&address)?;
        Ok(PeerRecord { address, next_attempt: now, num_failures: 0, peer_type: PeerType::Inbound })
    }
}

/// The `(ip, port)` primary key of an address, or why it cannot have a record: not an IPv4
/// literal ([`StoreError::NotIpv4`]) or port 0 ([`StoreError::ZeroPort`]).
pub fn ipv4_key(address: &PeerAddress) -> Result<(Ipv4Addr, u16), StoreError> {
    let ip = match address.host {
        Host::Ip(IpAddr::V4(ip)) => ip,
        _ => return Err(StoreError::NotIpv4(address.clone())),
    };
    if address.port == 0 {
        return Err(StoreError::ZeroPort(address.clone()));
    }
    Ok((ip, address.port))
}

/// The address of an `(ip, port)` key.
pub fn address_of(ip: Ipv4Addr, port: u16) -> PeerAddress {
    PeerAddress { host: Host::Ip(IpAddr::V4(ip)), port }
}

#[cfg(test)]
mod tests {
    use super::PeerType::*;
    use super::*;

    // C++: PeerManagerTests "create peer record" / "empty", "empty ip", "valid data"
    // (stellar-core accepts "random string" as an unvalidated IP; our records hold parsed
    // IPv4 literals only, so a name is refused with a typed error).
    #[test]
    fn record_address_must_be_ipv4_with_port() {
        let ok = PeerRecord::new("127.0.0.1:80".parse().unwrap(), Timestamp::ZERO).unwrap();
        assert_eq!(ok.address.to_string(), "127.0.0.1:80");
        let name = PeerAddress::new("random string", 80);
        assert_eq!(ipv4_key(&name), Err(StoreError::NotIpv4(name.clone())));
        let v6: PeerAddress = "[::1]:80".parse().unwrap();
        assert!(matches!(ipv4_key(&v6), Err(StoreError::NotIpv4(_))));
        let zero = PeerAddress::new("127.0.0.1", 0);
        assert_eq!(ipv4_key(&zero), Err(StoreError::ZeroPort(zero.clone())));
        let empty = PeerAddress::new("", 80);
        assert!(ipv4_key(&empty).is_err());
    }

    #[test]
    fn observed_preferred_always_sets_preferred() {
        for stored in PeerType::ALL {
            for known in [false, true] {
                assert_eq!(stored.after_observation(Preferred, known), Preferred);
            }
        }
    }

    #[test]
    fn observed_outbound_upgrades_inbound_and_downgrades_known_non_preferred() {
        assert_eq!(Inbound.after_observation(Outbound, false), Outbound);
        assert_eq!(Inbound.after_observation(Outbound, true), Outbound);
        assert_eq!(Outbound.after_observation(Outbound, true), Outbound);
        assert_eq!(Preferred.after_observation(Outbound, false), Preferred);
        assert_eq!(Preferred.after_observation(Outbound, true), Outbound);
    }

    #[test]
    fn observed_inbound_only_removes_preferred() {
        assert_eq!(Inbound.after_observation(Inbound, true), Inbound);
        assert_eq!(Outbound.after_observation(Inbound, true), Outbound);
        assert_eq!(Preferred.after_observation(Inbound, true), Outbound);
        assert_eq!(Preferred.after_observation(Inbound, false), Outbound);
    }

    #[test]
    fn db_type_values_round_trip_and_reject_others() {
        for t in PeerType::ALL {
            assert_eq!(PeerType::from_db_int(t.as_db_int()), Ok(t));
        }
        assert_eq!((Inbound as i64, Outbound as i64, Preferred as i64), (0, 1, 2));
        for bad in [-1, 3, i64::MAX, i64::MIN] {
            assert_eq!(PeerType::from_db_int(bad), Err(StoreError::InvalidRow));
        }
    }
}
