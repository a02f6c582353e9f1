//! What the program's integration tests share: the drivers to run `node` processes with.

#![allow(dead_code)]

/// The drivers the `node` processes of a test run with: each test runs its scenario once
/// per driver (or alternates them among its nodes). `STELLAR_OVERLAY_DRIVERS` (e.g. `mio`,
/// or `tokio,mio`, the default) narrows the list.
pub fn drivers() -> Vec<String> {
    let list = std::env::var("STELLAR_OVERLAY_DRIVERS").unwrap_or_else(|_| "tokio,mio".into());
    let drivers: Vec<String> = list.split(',').map(str::trim).filter(|d| !d.is_empty()).map(String::from).collect();
    assert!(!drivers.is_empty(), "STELLAR_OVERLAY_DRIVERS names no driver");
    drivers
}

/// The driver of the `i`-th node of a test that alternates them.
pub fn driver_for(i: usize) -> String {
    let all = drivers();
    all[i % all.len()].clone()
}
