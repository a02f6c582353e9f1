//! Resolution of configured peer host names (§11.5), off the runtime's workers: the
//! blocking resolution of [`overlay_host::dns`] on tokio's blocking pool (where tokio's own
//! `lookup_host` runs it too).

use overlay_proto::PeerAddress;

/// Resolve addresses whose host may be a name; entries that do not resolve are skipped.
pub async fn resolve_all(entries: &[PeerAddress]) -> Vec<PeerAddress> {
    if !entries.iter().any(overlay_host::dns::needs_lookup) {
        return entries.to_vec();
    }
    let entries = entries.to_vec();
    tokio::task::spawn_blocking(move || overlay_host::dns::resolve_all(&entries)).await.unwrap_or_default()
}

/// Resolve one `host[:port]` to an IPv4 address.
pub async fn resolve(entry: &str) -> Option<PeerAddress> {
    let entry = entry.to_string();
    tokio::task::spawn_blocking(move || overlay_host::dns::resolve(&entry)).await.ok().flatten()
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
