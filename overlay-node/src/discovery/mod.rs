//! Peer records, discovery and bans (PROTOCOL.md §10). Being written.
