//! The PEERS message: choosing what to send and filtering what is received (PROTOCOL.md
//! §10.4; stellar-core `PeerManager::getPeersToSend`, `Peer::sendPeers`, `Peer::recvPeers`).
//!
//! Who may send or receive PEERS (only the acceptor sends, once, right after its AUTH; an
//! acceptor receiving PEERS drops `"received PEERS"`, an initiator receiving a second one
//! drops `"too many msgs PEERS"`) is the connection's business, not this module's.

use super::config::{MAX_PEERS_RECEIVED, MAX_PEERS_TO_SEND};
use super::error::StoreError;
use super::manager::PeerManager;
use super::record::address_of;
use super::store::PeerStore;
use core::net::{IpAddr, Ipv4Addr};
use overlay_proto::xdr::{self, PeerAddressIp, StellarMessage, VecM};
use overlay_proto::{PeerAddress, Timestamp};
use rand_core::Rng;

/// What [`PeerManager::handle_peers`] did with each entry of a received PEERS message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeersReport {
    /// Entries that passed every filter (`ensure_exists` was called for them).
    pub kept: usize,
    /// Of the kept entries, those that created a new record.
    pub added: usize,
    /// Port 0 or above 65535.
    pub ignored_bad_port: usize,
    /// IPv6 addresses (not supported by stellar-core's overlay).
    pub ignored_ipv6: usize,
    /// Private addresses (10/8, 172.16/12, 192.168/16), unless allowed.
    pub ignored_private: usize,
    /// Equal to (the sender's IP, our `PEER_PORT`).
    pub ignored_self: usize,
    /// `127.0.0.1`, unless `ALLOW_LOCALHOST_FOR_TESTING`.
    pub ignored_localhost: usize,
    /// New addresses refused because the store is full.
    pub ignored_store_full: usize,
    /// Entries past [`MAX_PEERS_RECEIVED`] (impossible for a decoded message).
    pub ignored_over_limit: usize,
}

impl PeersReport {
    /// Every ignored entry, whatever the reason.
    pub fn ignored(&self) -> usize {
        self.ignored_bad_port
            + self.ignored_ipv6
            + self.ignored_private
            + self.ignored_self
            + self.ignored_localhost
            + self.ignored_store_full
            + self.ignored_over_limit
    }
}

/// Why a received entry is ignored, checked in stellar-core's order.
enum Verdict {
    Keep(PeerAddress),
    BadPort,
    Ipv6,
    Private,
    SelfAddress,
    Localhost,
}

impl<S: PeerStore> PeerManager<S> {
    /// The addresses to advertise to `recipient` (its remote IP with its HELLO listening
    /// port), stellar-core `getPeersToSend`: up to `max` (capped at [`MAX_PEERS_TO_SEND`],
    /// 50), first from non-inbound records with at most 10 failures, then filled up from
    /// inbound records with at most 10 failures, each source random (§10.5); never a private
    /// address (unless `allow_private`) nor `recipient` itself.
    pub fn peers_to_send<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        max: usize,
        recipient: &PeerAddress,
        rng: &mut R,
    ) -> Result<Vec<PeerAddress>, StoreError> {
        let max = max.min(MAX_PEERS_TO_SEND);
        let allow_private = self.config.allow_private;
        let keep = |a: &PeerAddress| (allow_private || !a.is_private()) && a != recipient;
        let mut peers = self.send_outbound.random_peers(&self.store, now, max, keep, rng)?;
        let missing = max.saturating_sub(peers.len());
        if missing > 0 {
            let inbound = self.send_inbound.random_peers(&self.store, now, missing, keep, rng)?;
            peers.extend(inbound);
        }
        Ok(peers)
    }

    /// The PEERS message for `recipient` ([`peers_to_send`](Self::peers_to_send) with
    /// [`MAX_PEERS_TO_SEND`], each entry IPv4 with `numFailures = 0`), or `None` when there is nothing to send (stellar-core
    /// sends no empty PEERS). Pass it to [`Peer::admit`](crate::peer::Peer::admit).
    pub fn build_peers_message<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        recipient: &PeerAddress,
        rng: &mut R,
    ) -> Result<Option<StellarMessage>, StoreError> {
        let entries: Vec<xdr::PeerAddress> = self
            .peers_to_send(now, MAX_PEERS_TO_SEND, recipient, rng)?
            .iter()
            .filter_map(PeerAddress::to_xdr)
            .collect();
        if entries.is_empty() {
            return Ok(None);
        }
        // At most 50 entries, below the XDR bound of 100: the conversion cannot fail.
        Ok(VecM::try_from(entries).ok().map(StellarMessage::Peers))
    }

    /// Process the entries of a PEERS message received from `sender` (its remote IP with its
    /// HELLO listening port): ignore those with port 0 or above 65535, IPv6 ones, private ones
    /// (unless `allow_private`), the one equal to (sender's IP, our `PEER_PORT`), and
    /// `127.0.0.1` (unless `allow_localhost`); [`ensure_exists`](Self::ensure_exists) each
    /// other one. The received `numFailures` is ignored.
    ///
    /// A full store only makes the remaining new addresses count as ignored; any other store
    /// failure is returned at once (entries before it are kept).
    pub fn handle_peers(
        &mut self,
        now: Timestamp,
        sender: &PeerAddress,
        entries: &[xdr::PeerAddress],
    ) -> Result<PeersReport, StoreError> {
        let mut report = PeersReport::default();
        let (considered, extra) = entries.split_at(entries.len().min(MAX_PEERS_RECEIVED));
        report.ignored_over_limit = extra.len();
        for entry in considered {
            match self.judge(sender, entry) {
                Verdict::Keep(address) => match self.ensure_exists(now, &address) {
                    Ok(added) => {
                        report.kept += 1;
                        report.added += usize::from(added);
                    }
                    Err(StoreError::StoreFull { .. }) => report.ignored_store_full += 1,
                    Err(e) => return Err(e),
                },
                Verdict::BadPort => report.ignored_bad_port += 1,
                Verdict::Ipv6 => report.ignored_ipv6 += 1,
                Verdict::Private => report.ignored_private += 1,
                Verdict::SelfAddress => report.ignored_self += 1,
                Verdict::Localhost => report.ignored_localhost += 1,
            }
        }
        Ok(report)
    }

    fn judge(&self, sender: &PeerAddress, entry: &xdr::PeerAddress) -> Verdict {
        let port = match u16::try_from(entry.port) {
            Ok(p) if p != 0 => p,
            _ => return Verdict::BadPort,
        };
        let ip = match entry.ip {
            PeerAddressIp::IPv4(octets) => Ipv4Addr::from(octets),
            PeerAddressIp::IPv6(_) => return Verdict::Ipv6,
        };
        if ip.is_private() && !self.config.allow_private {
            return Verdict::Private;
        }
        // [UNSURE] stellar-core's "self-address" check compares with the *sender's* IP and
        // *our* PEER_PORT, not with our own address (PROTOCOL.md §10.4, §19). Replicated
        // literally for parity; it is harmless either way.
        if sender.ip() == Some(IpAddr::V4(ip)) && port == self.config.peer_port {
            return Verdict::SelfAddress;
        }
        // stellar-core's `isLocalhost` is exactly 127.0.0.1; other 127/8 addresses pass.
        if ip == Ipv4Addr::LOCALHOST && !self.config.allow_localhost {
            return Verdict::Localhost;
        }
        Verdict::Keep(address_of(ip, port))
    }
}
