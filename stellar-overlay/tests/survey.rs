//! `stellar-overlay survey` (issue 13): four `node` processes on 127.0.0.1, each with a
//! stellar-core configuration file naming the surveyor in SURVEYOR_KEYS (and
//! RUN_STANDALONE, so that they keep to the links the test makes: N2 and N4 dial N1, N3
//! dials N2). The surveyor dials N2 only, and finds N1 and N3 from N2's answer and N4 from
//! N1's. The JSON names every node and every link, with both ends' statistics. The nodes
//! alternate between the two drivers (`common::driver_for`).

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_stellar-overlay");
const WAIT: Duration = Duration::from_secs(30);
const PASSPHRASE: &str = "Standalone Network ; February 2017";
const SURVEYOR_SEED: &str = "SDP4WMPE2XWJ6YRYRO2DNA5CIO4RBVIWTAUQUBVMIKBAVOR3JN7KE4XA";
const SURVEYOR_ID: &str = "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ";

/// A `node` process whose stdout lines arrive on a channel; killed on drop.
struct Node {
    child: Child,
    lines: mpsc::Receiver<Value>,
    id: String,
    address: String,
}

impl Node {
    fn spawn(dir: &std::path::Path, name: &str, validator: bool, connect: Option<&Node>, driver: &str) -> Node {
        let cfg = dir.join(format!("{name}.cfg"));
        std::fs::write(
            &cfg,
            format!(
                "NETWORK_PASSPHRASE=\"{PASSPHRASE}\"\nALLOW_LOCALHOST_FOR_TESTING=true\nRUN_STANDALONE=true\n\
                 NODE_IS_VALIDATOR={validator}\nSURVEYOR_KEYS=[\"{SURVEYOR_ID} surveyor\"]\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args([
            "node",
            "--driver",
            driver,
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--database",
            ":memory:",
        ]);
        cmd.args(["--log-format", "json"]);
        if let Some(peer) = connect {
            cmd.args(["--connect", &peer.address]);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn stellar-overlay node");
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
        let mut node = Node { child, lines, id: String::new(), address: String::new() };
        let listening = node.expect("listening", |v| v["event"] == "listening");
        node.id = listening["node"].as_str().unwrap().to_string();
        node.address = listening["address"].as_str().unwrap().to_string();
        if let Some(peer) = connect {
            node.expect("connected", |v| v["event"] == "connected" && v["peer"] == peer.id.as_str());
        }
        node
    }

    /// The next line matching `pred` (others skipped).
    fn expect(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no {what} line"));
            if pred(&v) {
                return v;
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `stellar-overlay survey ARGS` to its end (killed past `bound`).
fn survey(args: &[&str], bound: Duration) -> Output {
    let mut child = Command::new(BIN)
        .arg("survey")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stellar-overlay survey");
    // The pipes are read on threads, so that a full pipe never holds the program up.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + bound;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("survey did not end within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("stellar-overlay-survey-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_survey_maps_four_nodes_breadth_first() {
    let dir = temp_dir("map");
    let n1 = Node::spawn(&dir, "n1", true, None, &common::driver_for(0));
    let n2 = Node::spawn(&dir, "n2", false, Some(&n1), &common::driver_for(1));
    let n3 = Node::spawn(&dir, "n3", false, Some(&n2), &common::driver_for(2));
    let n4 = Node::spawn(&dir, "n4", false, Some(&n1), &common::driver_for(3));
    let (json, dot) = (dir.join("map.json"), dir.join("map.dot"));
    let out = survey(
        &[
            "--connect",
            &n2.address,
            "--network",
            "standalone",
            "--secret-key",
            SURVEYOR_SEED,
            "--collect",
            "1",
            "--sync-wait",
            "0",
            "--timeout",
            "30",
            "--request-period-ms",
            "300",
            "--json",
            json.to_str().unwrap(),
            "--dot",
            dot.to_str().unwrap(),
        ],
        Duration::from_secs(90),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    assert!(stderr.contains(&format!("surveyor {SURVEYOR_ID}")), "{stderr}");
    assert!(stderr.contains("survey: asked"), "a progress line: {stderr}");
    assert!(stdout.contains("5 nodes: 4 answered, 0 never answered; 4 links"), "{stdout}");

    let map: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(map["surveyor"], SURVEYOR_ID);
    let ids: BTreeSet<&str> = map["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> = [SURVEYOR_ID, &n1.id, &n2.id, &n3.id, &n4.id].into();
    assert_eq!(ids, expected);
    for n in map["nodes"].as_array().unwrap() {
        let surveyor = n["id"] == SURVEYOR_ID;
        assert_eq!(n["surveyor"], surveyor);
        assert_eq!(n["answered"], !surveyor, "{n}");
        if !surveyor {
            assert_eq!(n["data"]["isValidator"], n["id"] == n1.id.as_str(), "NODE_IS_VALIDATOR: {n}");
        }
    }
    let n1_data = &map["nodes"].as_array().unwrap().iter().find(|n| n["id"] == n1.id.as_str()).unwrap()["data"];
    assert_eq!(
        (n1_data["numTotalInboundPeers"].as_u64(), n1_data["numTotalOutboundPeers"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(map["unanswered"], serde_json::json!([]));

    // Every link, dialer first; both ends report it except the surveyor.
    let links: BTreeSet<(&str, &str)> = map["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["from"].as_str().unwrap(), l["to"].as_str().unwrap()))
        .collect();
    let expected: BTreeSet<(&str, &str)> =
        [(&*n2.id, &*n1.id), (&*n3.id, &*n2.id), (&*n4.id, &*n1.id), (SURVEYOR_ID, &*n2.id)].into();
    assert_eq!(links, expected);
    for l in map["links"].as_array().unwrap() {
        assert_eq!(l["from_side"].is_null(), l["from"] == SURVEYOR_ID, "{l}");
        assert_eq!(l["to_side"]["nodeId"], l["from"], "the acceptor names the dialer: {l}");
        // The STOP crossed every link while the network collected.
        let traffic = |side: &Value| side["messagesRead"].as_u64().unwrap() + side["messagesWritten"].as_u64().unwrap();
        assert!(traffic(&l["to_side"]) > 0, "{l}");
    }

    let dot = std::fs::read_to_string(&dot).unwrap();
    assert!(dot.starts_with("digraph survey {"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 4, "{dot}");
    assert!(dot.contains(&format!("\"{}\" -> \"{}\"", n3.id, n2.id)), "{dot}");
    drop((n1, n2, n3, n4));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failures_are_clear_and_exit_1() {
    // No peer: exit 1 after --wait.
    let out = survey(&["--network", "standalone", "--wait", "1", "--quiet"], Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no authenticated peer within --wait (1 s)"), "{err}");

    // --svg without Graphviz: refused before anything runs.
    let graphviz = Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success());
    if !graphviz {
        let out = survey(&["--network", "standalone", "--svg", "/tmp/never.svg"], Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Graphviz") && err.contains("not installed"), "{err}");
    }

    // Bad arguments: exit 2; --help documents the exit codes.
    assert_eq!(survey(&["--collect", "soon"], Duration::from_secs(30)).status.code(), Some(2));
    let help = survey(&["--help"], Duration::from_secs(30));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("Exit codes:") && text.contains("SURVEYOR_KEYS"), "{text}");
}
