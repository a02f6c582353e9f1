#![no_main]
//! The handshake machine in the initiator role fed arbitrary message sequences.
#[path = "common/handshake.rs"]
mod handshake;
libfuzzer_sys::fuzz_target!(|ops: Vec<handshake::Op>| {
    handshake::run(overlay_auth::Role::Initiator, ops);
});
