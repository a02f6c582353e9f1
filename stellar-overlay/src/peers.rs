//! `stellar-overlay peers`: the records and bans of a peer database.

use clap::Args;
use overlay_node::discovery::{PeerQuery, PeerStore};
use overlay_proto::Timestamp;
use overlay_tokio::SqliteStore;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct PeersArgs {
    /// The peer database.
    #[arg(long, default_value = "stellar-overlay.db")]
    database: PathBuf,
}

pub fn run(args: PeersArgs) -> Result<(), String> {
    if !args.database.exists() {
        return Err(format!("{}: no such database", args.database.display()));
    }
    let store = SqliteStore::open(&args.database).map_err(|e| format!("{}: {e}", args.database.display()))?;
    let query = PeerQuery::all();
    let now = Timestamp::MAX;
    let count = store.count(&query, now).map_err(|e| e.to_string())?;
    let records =
        store.load_page(&query, now, 0, usize::try_from(count).unwrap_or(usize::MAX)).map_err(|e| e.to_string())?;
    for r in records {
        println!(
            "{}",
            json!({
                "address": r.address.to_string(),
                "type": format!("{:?}", r.peer_type).to_lowercase(),
                "num_failures": r.num_failures,
                "next_attempt_unix_ms": r.next_attempt.as_millis(),
            })
        );
    }
    for b in store.bans().map_err(|e| e.to_string())? {
        println!("{}", json!({"banned": b.to_string()}));
    }
    Ok(())
}
