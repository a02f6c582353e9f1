//! The `stellar-overlay` program: two `node` processes on 127.0.0.1 handshake and exchange
//! messages; `peer-info` prints a running node's HELLO. Every scenario with `node`
//! processes runs once per driver (`--driver tokio` and `--driver mio`; see
//! `common::drivers`).

mod common;

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
            .args(["--database", ":memory:"])
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

    /// A `node --driver DRIVER` process with `args`.
    fn node(driver: &str, args: &[&str]) -> Proc {
        Proc::spawn(&[&["node", "--driver", driver], args].concat())
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
    for driver in common::drivers() {
        eprintln!("driver: {driver}");
        handshake_and_exchange(&driver);
    }
}

fn handshake_and_exchange(driver: &str) {
    let a = Proc::node(
        driver,
        &["--listen", "127.0.0.1:0", "--network", "standalone", "--secret-key", SEED_A, "--log-format", "json"],
    );
    let listening = a.expect("listening", |v| v["event"] == "listening");
    assert_eq!(listening["node"], ID_A);
    let addr = listening["address"].as_str().unwrap().to_string();

    let b = Proc::node(
        driver,
        &["--listen", "127.0.0.1:0", "--connect", &addr, "--network", "standalone", "--log-format", "json"],
    );
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
    for driver in common::drivers() {
        eprintln!("driver: {driver}");
        let a = Proc::node(&driver, &["--listen", "127.0.0.1:0", "--network", "standalone", "--log-format", "json"]);
        let addr = a.expect("listening", |v| v["event"] == "listening")["address"].as_str().unwrap().to_string();
        let out = Command::new(BIN).args(["peer-info", &addr, "--network", "testnet"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        let d = a.expect("disconnected", |v| v["event"] == "disconnected");
        assert_eq!(d["peer"], Value::Null);
        assert_eq!(d["reason"], "failed to verify auth cert");
    }
}

#[test]
fn bad_arguments_exit_2_and_help_works() {
    for driver in common::drivers() {
        let out = Command::new(BIN)
            .args([
                "node",
                "--driver",
                &driver,
                "--listen",
                "127.0.0.1:0",
                "--network",
                "nonet",
                "--database",
                ":memory:",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{driver}");
    }
    let out = Command::new(BIN).args(["node", "--listen"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN).args(["node", "--driver", "uring"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN).args(["peer-info"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    for cmd in ["node", "peer-info", "demo", "submit-tx", "peers"] {
        let out = Command::new(BIN).args([cmd, "--help"]).output().unwrap();
        assert!(out.status.success());
    }
}

/// Issue 6: three nodes in a line (C dials B, B dials A); 50 transactions sent to A by an
/// outside peer are all logged as received by C.
#[test]
fn transactions_cross_a_line_of_three_nodes() {
    for driver in common::drivers() {
        eprintln!("driver: {driver}");
        transactions_cross_a_line(&driver);
    }
}

fn transactions_cross_a_line(driver: &str) {
    let a = Proc::node(driver, &["--listen", "127.0.0.1:0", "--network", "standalone", "--log-format", "json"]);
    let a_addr = a.expect("listening", |v| v["event"] == "listening")["address"].as_str().unwrap().to_string();
    let b = Proc::node(
        driver,
        &["--listen", "127.0.0.1:0", "--connect", &a_addr, "--network", "standalone", "--log-format", "json"],
    );
    let b_addr = b.expect("listening", |v| v["event"] == "listening")["address"].as_str().unwrap().to_string();
    let c = Proc::node(
        driver,
        &["--listen", "127.0.0.1:0", "--connect", &b_addr, "--network", "standalone", "--log-format", "json"],
    );
    c.expect("connected", |v| v["event"] == "connected");
    b.expect("connected to A", |v| v["event"] == "connected" && v["address"] == a_addr.as_str());

    // A worker thread runs the connection task while this thread waits on the log.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        use overlay_tokio::{ConnectionConfig, LocalNode, PeerConnection, SharedAuth};
        let auth = SharedAuth::new(&LocalNode::generate(overlay_proto::Network::Standalone.id()));
        let conn = PeerConnection::connect(&auth, a_addr.parse().unwrap(), &ConnectionConfig::default()).await.unwrap();
        for n in 0..50 {
            conn.send(overlay_proto::fixtures::transaction_message(n)).await.unwrap();
        }
        for _ in 0..50 {
            c.expect("TRANSACTION at C", |v| v["event"] == "message" && v["type"] == "TRANSACTION");
        }
        conn.close(overlay_node::DropReason::LocalSilent("done")).await;
    });
}

fn temp_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("stellar-overlay-test-{}-{name}", std::process::id()))
}

/// Issue 6: a corrupt or read-only database at start is a clear error and a non-zero exit.
#[test]
fn corrupt_or_read_only_database_fails_clearly() {
    for driver in common::drivers() {
        eprintln!("driver: {driver}");
        bad_database_fails_clearly(&driver);
    }
}

fn bad_database_fails_clearly(driver: &str) {
    let corrupt = temp_file("corrupt.db");
    std::fs::write(&corrupt, vec![0x5a; 8192]).unwrap();
    let out = Command::new(BIN)
        .args(["node", "--driver", driver, "--listen", "127.0.0.1:0", "--network", "standalone", "--database"])
        .arg(&corrupt)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("peer database") && err.to_lowercase().contains("corrupt"), "{err}");
    assert_eq!(std::fs::read(&corrupt).unwrap(), vec![0x5a; 8192], "the file is left as it was");
    let _ = std::fs::remove_file(&corrupt);

    // A valid database made unwritable: immutable (which binds even root) where chattr
    // works, else read-only permissions.
    let ro = temp_file("ro.db");
    let _ = std::fs::remove_file(&ro);
    drop(overlay_tokio::SqliteStore::open(&ro).unwrap());
    let immutable = Command::new("chattr").arg("+i").arg(&ro).status().is_ok_and(|s| s.success());
    if !immutable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let out = Command::new(BIN)
        .args(["node", "--driver", driver, "--listen", "127.0.0.1:0", "--network", "standalone", "--database"])
        .arg(&ro)
        .output()
        .unwrap();
    if immutable {
        let _ = Command::new("chattr").arg("-i").arg(&ro).status();
    }
    let _ = std::fs::remove_file(&ro);
    let err = String::from_utf8_lossy(&out.stderr);
    if immutable || !running_as_root() {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("peer database") && err.to_lowercase().contains("read"), "{err}");
    } else {
        eprintln!("note: running as root without chattr; the read-only case cannot be made here");
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
