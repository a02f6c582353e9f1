//! Protocol versions and the defaults a node advertises (PROTOCOL.md §3.5, §15).

/// `OVERLAY_PROTOCOL_VERSION` of the stellar-core baseline (not file-configurable).
pub const OVERLAY_PROTOCOL_VERSION: u32 = 42;
/// `OVERLAY_PROTOCOL_MIN_VERSION` of the stellar-core baseline.
pub const OVERLAY_PROTOCOL_MIN_VERSION: u32 = 41;
/// `CURRENT_LEDGER_PROTOCOL_VERSION` advertised in HELLO (informational, not checked).
pub const LEDGER_PROTOCOL_VERSION: u32 = 28;
/// `PEER_PORT` default.
pub const DEFAULT_PEER_PORT: u16 = 11625;
/// `AUTH_MSG_FLAG_FLOW_CONTROL_BYTES_REQUESTED`: the only AUTH flags value accepted (§3.6).
pub const AUTH_FLAGS_FLOW_CONTROL_BYTES: i32 = 200;
/// The version string this crate advertises by default.
pub const VERSION_STR: &str = concat!("stellar-overlay-rs ", env!("CARGO_PKG_VERSION"));

/// Whether a remote's advertised `[min, version]` range is acceptable to a local
/// `[local_min, local_version]` range (§3.5 step 8).
///
/// ```
/// use overlay_proto::version::versions_compatible;
/// assert!(versions_compatible(40, 41, 41, 42)); // stellar-core v27.1.0 against 42/41
/// assert!(!versions_compatible(38, 40, 41, 42));
/// assert!(!versions_compatible(43, 42, 41, 42)); // min above version
/// ```
pub const fn versions_compatible(remote_min: u32, remote_version: u32, local_min: u32, local_version: u32) -> bool {
    remote_min <= remote_version && remote_version >= local_min && remote_min <= local_version
}
