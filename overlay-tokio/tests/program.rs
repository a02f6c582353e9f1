//! The `stellar-overlay` program: two `node` processes on 127.0.0.1 handshake and exchange
//! messages; `peer-info` prints a running node's HELLO.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_stellar-overlay");
const WAIT: Duration = Duration::from_secs(30);

/// A child process whose stdout lines arrive on a channel; killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn stellar-overlay");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// The next line matching `pred` (others skipped).
    fn expect(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.lines.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no {what} line"));
            if pred(&v) {
                return v;
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SEED_A: &str = "SDP4WMPE2XWJ6YRYRO2DNA5CIO4RBVIWTAUQUBVMIKBAVOR3JN7KE4XA";
const ID_A: &str = "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ";

#[test]
fn two_nodes_handshake_and_exchange_messages_and_peer_info_reads_a_hello() {
    let a = Proc::spawn(&[
        "node",
        "--listen",
        "127.0.0.1:0",
        "--network",
        "standalone",
        "--secret-key",
        SEED_A,
        "--log-format",
        "json",
    ]);
    let listening = a.expect("listening", |v| v["event"] == "listening");
    assert_eq!(listening["node"], ID_A);
    let addr = listening["address"].as_str().unwrap().to_string();

    let b = Proc::spawn(&[
        "node",
        "--listen",
        "127.0.0.1:0",
        "--connect",
        &addr,
        "--network",
        "standalone",
        "--log-format",
        "json",
    ]);
    let b_id = b.expect("listening", |v| v["event"] == "listening")["node"].as_str().unwrap().to_string();

    // Both sides log the handshake with the other's HELLO.
    let at_b = b.expect("connected", |v| v["event"] == "connected");
    assert_eq!(at_b["peer"], ID_A);
    assert_eq!(at_b["address"], addr.as_str());
    assert_eq!(at_b["direction"], "outbound");
    assert_eq!(at_b["overlay_version"], 42);
    assert_eq!(at_b["overlay_min_version"], 41);
    assert_eq!(at_b["ledger_version"], 28);
    assert!(at_b["version_str"].as_str().unwrap().starts_with("stellar-overlay-rs"));
    let at_a = a.expect("connected", |v| v["event"] == "connected");
    assert_eq!(at_a["peer"], b_id.as_str());
    assert_eq!(at_a["direction"], "inbound");

    // Messages flow both ways: the initial SEND_MORE_EXTENDED and GET_SCP_STATE of §3.6.
    for p in [&a, &b] {
        let m = p.expect("SEND_MORE_EXTENDED", |v| v["event"] == "message" && v["type"] == "SEND_MORE_EXTENDED");
        assert_eq!(m["bytes"], 12);
        let m = p.expect("GET_SCP_STATE", |v| v["event"] == "message" && v["type"] == "GET_SCP_STATE");
        assert_eq!(m["bytes"], 8);
    }
    assert_eq!(a.expect("message", |v| v["event"] == "message")["peer"], b_id.as_str());

    // peer-info against the running node A.
    let out = Command::new(BIN).args(["peer-info", &addr, "--network", "standalone"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["peer"], ID_A);
    assert_eq!(info["overlay_version"], 42);
    assert_eq!(info["listening_port"].as_u64().unwrap(), addr.rsplit(':').next().unwrap().parse::<u64>().unwrap());

    // A's log shows peer-info's connection and its end.
    a.expect("peer-info disconnect", |v| v["event"] == "disconnected" && v["peer"] != b_id.as_str());
}

#[test]
fn peer_info_fails_clearly() {
    // A port with no listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(BIN).args(["peer-info", &format!("127.0.0.1:{port}"), "--timeout", "5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unable to connect"), "{err}");

    // Wrong network: the node drops us after our HELLO.
    let a = Proc::spawn(&["node", "--listen", "127.0.0.1:0", "--network", "standalone", "--log-format", "json"]);
    let addr = a.expect("listening", |v| v["event"] == "listening")["address"].as_str().unwrap().to_string();
    let out = Command::new(BIN).args(["peer-info", &addr, "--network", "testnet"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let d = a.expect("disconnected", |v| v["event"] == "disconnected");
    assert_eq!(d["peer"], Value::Null);
    assert_eq!(d["reason"], "failed to verify auth cert");
}

#[test]
fn bad_arguments_exit_2_and_help_works() {
    let out = Command::new(BIN).args(["node", "--listen", "127.0.0.1:0", "--network", "nonet"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = Command::new(BIN).args(["node"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    for cmd in ["node", "peer-info", "demo"] {
        let out = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success());
    }
}
