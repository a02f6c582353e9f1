//! Resolution of configured peer host names (§11.5): the first IPv4 address of each;
//! unresolvable entries are skipped (and logged). These calls block on the system resolver:
//! run them off an event loop (the tokio driver wraps them in `spawn_blocking`, the mio
//! driver calls them before its loop starts and on a resolver thread).

use overlay_proto::version::DEFAULT_PEER_PORT;
use overlay_proto::{Host, PeerAddress};
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolve addresses whose host may be a name; entries that do not resolve are skipped.
pub fn resolve_all(entries: &[PeerAddress]) -> Vec<PeerAddress> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        match resolve(&e.to_string()) {
            Some(a) => out.push(a),
            None => tracing::warn!(peer = %e, "cannot resolve peer address; skipped"),
        }
    }
    out
}

/// Resolve one `host[:port]` to an IPv4 address (a literal IP needs no lookup).
pub fn resolve(entry: &str) -> Option<PeerAddress> {
    let parsed = PeerAddress::parse_with_default_port(entry, DEFAULT_PEER_PORT).ok()?;
    match &parsed.host {
        Host::Ip(_) => Some(parsed),
        Host::Name(name) => {
            let found = (name.as_str(), parsed.port).to_socket_addrs().ok()?;
            found.into_iter().find(SocketAddr::is_ipv4).map(PeerAddress::from)
        }
    }
}

/// Whether resolving `address` needs the system resolver (its host is a name).
pub fn needs_lookup(address: &PeerAddress) -> bool {
    matches!(address.host, Host::Name(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    // OverlayManagerTests "triggerPeerResolution() async resolution": configured strings become
    // addresses; literals need no lookup, names resolve to IPv4, bad strings are skipped.
    #[test]
    fn configured_peers_resolve() {
        let entries = [
            PeerAddress::new("127.0.0.1", 5),
            PeerAddress::new("localhost", 11626),
            PeerAddress::new("not a host", 1),
            PeerAddress::new("1.2.3.4", 11625),
        ];
        let got: Vec<String> = resolve_all(&entries).iter().map(ToString::to_string).collect();
        assert_eq!(got, vec!["127.0.0.1:5", "127.0.0.1:11626", "1.2.3.4:11625"]);
        assert!(resolve("not a host").is_none());
        assert!(needs_lookup(&entries[1]) && !needs_lookup(&entries[0]));
    }
}
