//! A real stellar-core v27.1.0 validator's configuration file
//! (`../shared/spec/stellar-core-validator.cfg`, with its `[QUORUM_SET]` and `[HISTORY.local]`
//! sections) starts our node unchanged: its seed, network, port, admin port, peers and
//! database are taken from it, and the keys the overlay does not use are listed once.
//!
//! The file names `/var/lib/stellar/stellar.db` and fixed ports, so the node runs in a mount
//! and network namespace of its own (`unshare -mn`, as root): a temporary directory is bound
//! over `/var/lib` there, and the ports are the namespace's. Both run with each driver.

mod common;

use overlay_auth::NodeIdentity;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_stellar-overlay");
const CFG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/stellar-core-validator.cfg");

fn can_unshare() -> bool {
    Command::new("unshare").args(["-mn", "true"]).status().is_ok_and(|s| s.success())
}

#[test]
fn a_stellar_core_validator_configuration_starts_our_node_unchanged() {
    for driver in common::drivers() {
        eprintln!("driver: {driver}");
        validator_configuration_starts_the_node(&driver);
    }
}

fn validator_configuration_starts_the_node(driver: &str) {
    assert!(can_unshare(), "this test needs root and unshare (util-linux) to give the node /var/lib and the ports");
    let text = std::fs::read_to_string(CFG).unwrap();
    let varlib = std::env::temp_dir().join(format!("stellar-core-cfg-{}", std::process::id()));
    std::fs::create_dir_all(varlib.join("stellar")).unwrap();
    let script = format!(
        "ip link set lo up && mount --bind {} /var/lib && exec {BIN} node --driver {driver} --config {CFG} --log-format json",
        varlib.display()
    );
    let mut child = Command::new("unshare")
        .args(["-mn", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut events: Vec<Value> = Vec::new();
    while events.len() < 2 {
        let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) else { break };
        events.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")));
    }
    let db_created = varlib.join("stellar/stellar.db").exists();
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    let _ = std::fs::remove_dir_all(&varlib);

    // NODE_SEED gives the node's identity; PEER_PORT its listening port; HTTP_PORT (not
    // public) the admin endpoint on loopback; DATABASE its peer database.
    let seed = text.lines().find_map(|l| l.strip_prefix("NODE_SEED=")).unwrap().trim_matches('"');
    let id = NodeIdentity::from_strkey(seed).unwrap().node_id().to_string();
    let listening = events.iter().find(|e| e["event"] == "listening").unwrap_or_else(|| panic!("{events:?} {stderr}"));
    assert_eq!(listening["node"], id);
    assert_eq!(listening["address"], "0.0.0.0:11710");
    let admin = events.iter().find(|e| e["event"] == "admin").expect("the admin endpoint started");
    assert_eq!(admin["address"], "127.0.0.1:11711");
    assert!(db_created, "the database of DATABASE was created");
    // The keys the overlay does not use are listed, once.
    let ignored: Vec<&str> = stderr.lines().filter(|l| l.contains("does not use")).collect();
    assert_eq!(ignored.len(), 1, "{stderr}");
    for key in ["HISTORY", "BUCKET_DIR_PATH", "UNSAFE_QUORUM", "MANUAL_CLOSE"] {
        assert!(ignored[0].contains(key), "{key} not listed: {}", ignored[0]);
    }
    for used in ["PEER_PORT", "QUORUM_SET", "DATABASE", "KNOWN_PEERS", "NODE_IS_VALIDATOR"] {
        assert!(!ignored[0].contains(&format!("{used},")), "{used} is used");
    }
}

// A wrong value is a clear error naming its key, and the program exits 1.
#[test]
fn a_wrong_value_names_its_key() {
    let dir = std::env::temp_dir().join(format!("stellar-core-bad-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (line, key) in [
        ("PEER_PORT=\"eleven\"", "PEER_PORT"),
        ("KNOWN_PEERS=[\"1.2.3.4:0\"]", "KNOWN_PEERS"),
        ("MAX_ADDITIONAL_PEER_CONNECTIONS=-5", "MAX_ADDITIONAL_PEER_CONNECTIONS"),
        ("[QUORUM_SET]\nTHRESHOLD_PERCENT=100\nVALIDATORS=[\"GNOTAKEY v1\"]", "QUORUM_SET.VALIDATORS"),
        ("SURVEYOR_KEYS=[\"GNOTAKEY\"]", "SURVEYOR_KEYS"),
        ("NODE_IS_VALIDATOR=\"yes\"", "NODE_IS_VALIDATOR"),
    ] {
        let path = dir.join("bad.cfg");
        std::fs::write(&path, format!("NETWORK_PASSPHRASE=\"Standalone Network ; February 2017\"\n{line}\n")).unwrap();
        for driver in common::drivers() {
            let out = Command::new(BIN)
                .args(["node", "--driver", &driver, "--config", path.to_str().unwrap(), "--database", ":memory:"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{line} ({driver})");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(key), "{line} ({driver}): {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
