//! Resolution of configured peer host names (§11.5): the first IPv4 address of each;
//! unresolvable entries are skipped (and logged).

use overlay_proto::version::DEFAULT_PEER_PORT;
use overlay_proto::{Host, PeerAddress};
use std::net::SocketAddr;

/// Resolve addresses whose host may be a name; entries that do not resolve are skipped.
pub async fn resolve_all(entries: &[PeerAddress]) -> Vec<PeerAddress> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        match resolve(&e.to_string()).await {
            Some(a) => out.push(a),
            None => tracing::warn!(peer = %e, "cannot resolve peer address; skipped"),
        }
    }
    out
}

/// Resolve one `host[:port]` to an IPv4 address.
pub async fn resolve(entry: &str) -> Option<PeerAddress> {
    let parsed = PeerAddress::parse_with_default_port(entry, DEFAULT_PEER_PORT).ok()?;
    match &parsed.host {
        Host::Ip(_) => Some(parsed),
        Host::Name(name) => {
            let found = tokio::net::lookup_host((name.as_str(), parsed.port)).await.ok()?;
            found.filter(SocketAddr::is_ipv4).map(PeerAddress::from).next()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // OverlayManagerTests "triggerPeerResolution() async resolution": configured strings become
    // addresses; literals need no lookup, names resolve to IPv4, bad strings are skipped.
    #[tokio::test]
    async fn configured_peers_resolve() {
        let entries = [
            PeerAddress::new("127.0.0.1", 5),
            PeerAddress::new("localhost", 11626),
            PeerAddress::new("not a host", 1),
            PeerAddress::new("1.2.3.4", 11625),
        ];
        let got: Vec<String> = resolve_all(&entries).await.iter().map(ToString::to_string).collect();
        assert_eq!(got, vec!["127.0.0.1:5", "127.0.0.1:11626", "1.2.3.4:11625"]);
        assert!(resolve("not a host").await.is_none());
    }
}
