//! Every admin command on a running node, over HTTP (issue 15 acceptance 1 and 2): peers,
//! connect, droppeer (with ban), ban, unban, bans (surviving a restart), info, metrics in
//! Prometheus text (parsed by the Python `prometheus_client` parser) and in stellar-core's
//! JSON shape; errors are JSON with the right status.

#[path = "../../testing/python.rs"]
mod python;

use overlay_admin::Admin;
use overlay_auth::NodeIdentity;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::{Network, NodeId, PeerAddress};
use overlay_tokio::{LocalNode, OverlayConfig, OverlayEvent, OverlayManager};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

fn config(database: Option<PathBuf>) -> OverlayConfig {
    OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        listen_port: 0,
        allow_localhost_for_testing: true,
        run_standalone: true,
        database,
        ..OverlayConfig::default()
    }
}

fn local(seed: u8) -> LocalNode {
    LocalNode::new(NodeIdentity::from_seed([seed; 32]), Network::Standalone.id())
}

async fn node(seed: u8, database: Option<PathBuf>) -> OverlayManager {
    let m = OverlayManager::new(config(database), local(seed)).unwrap();
    m.start().await.unwrap();
    m
}

async fn admin(m: &OverlayManager) -> SocketAddr {
    overlay_admin::http::serve("127.0.0.1:0".parse().unwrap(), Admin::new(m.clone())).await.unwrap().0
}

/// A GET over a fresh connection: (status, content type, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    tokio::time::timeout(WAIT, async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let ctype = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
            .unwrap_or_default();
        (status, ctype, body.to_string())
    })
    .await
    .expect("answered in time")
}

async fn json(addr: SocketAddr, path: &str) -> Value {
    let (status, ctype, body) = get(addr, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    serde_json::from_str(&body).unwrap()
}

async fn wait_for(events: &mut tokio::sync::broadcast::Receiver<OverlayEvent>, pred: impl Fn(&OverlayEvent) -> bool) {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(e) if pred(&e) => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the event came in time");
}

fn temp_db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("overlay-admin-{}-{name}.db", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_answers_and_a_ban_survives_a_restart() {
    let db = temp_db("commands");
    let a = node(1, Some(db.clone())).await;
    let http = admin(&a).await;
    let b = node(2, None).await;
    let c = node(3, None).await;
    let b_id = b.node_id();
    b.connect(&PeerAddress::from(a.local_addr().unwrap())).await.unwrap();

    // peers: stellar-core's shape, short and full keys. `connect` returns at B's first grant
    // from A; A may not have read B's first grant yet, so wait (bounded) for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let peers = loop {
        let peers = json(http, "/peers").await;
        let granted =
            peers["authenticated_peers"]["inbound"][0]["flow_control"]["peer_capacity"].as_u64().is_some_and(|c| c > 0);
        if granted || tokio::time::Instant::now() > deadline {
            break peers;
        }
        tokio::task::yield_now().await;
    };
    let inbound = peers["authenticated_peers"]["inbound"].as_array().unwrap();
    assert_eq!(inbound.len(), 1);
    let p = &inbound[0];
    assert_eq!(p["id"], b_id.short());
    assert_eq!(p["olver"], 42);
    assert!(p["ver"].as_str().unwrap().starts_with("stellar-overlay-rs"));
    assert_eq!(p["flow_control"]["local_capacity"]["flood"], 200);
    assert!(p["flow_control"]["peer_capacity"].as_u64().unwrap() > 0);
    assert!(peers["authenticated_peers"]["outbound"].is_null());
    assert!(peers["pending_peers"]["inbound"].is_null());
    let full = json(http, "/peers?fullkeys=true").await;
    assert_eq!(full["authenticated_peers"]["inbound"][0]["id"], b_id.to_string());

    // info: the overlay part.
    let info = json(http, "/info").await;
    assert_eq!(info["info"]["peers"]["authenticated_count"], 1);
    assert_eq!(info["info"]["state"], "Synced!");
    assert_eq!(info["info"]["node"], a.node_id().to_string());
    assert_eq!(json(http, "/").await["info"]["node"], a.node_id().to_string());

    // connect: stellar-core's text; the dial happens.
    let mut events = a.events();
    let c_addr = c.local_addr().unwrap();
    let (status, ctype, body) = get(http, &format!("/connect?peer=127.0.0.1&port={}", c_addr.port())).await;
    assert_eq!((status, body.as_str()), (200, format!("Connect to: 127.0.0.1:{}", c_addr.port()).as_str()));
    assert!(ctype.starts_with("text/plain"));
    let c_id = c.node_id();
    wait_for(&mut events, |e| matches!(e, OverlayEvent::Connected { remote, .. } if remote.node_id == c_id)).await;
    let peers = json(http, "/peers").await;
    assert_eq!(peers["authenticated_peers"]["outbound"].as_array().unwrap().len(), 1);

    // bans: none yet (null, as stellar-core says it).
    assert!(json(http, "/bans").await["bans"].is_null());
    // droppeer with ban=1: dropped, banned, listed.
    let (status, _, body) = get(http, &format!("/droppeer?node={b_id}&ban=1")).await;
    assert_eq!((status, body), (200, format!("Drop and ban peer: {b_id}")));
    wait_for(&mut events, |e| matches!(e, OverlayEvent::Disconnected { peer: Some(p), .. } if *p == b_id)).await;
    assert_eq!(json(http, "/bans").await["bans"], serde_json::json!([b_id.to_string()]));
    // droppeer without ban, ban and unban of another node.
    let (status, _, body) = get(http, &format!("/droppeer?node={c_id}")).await;
    assert_eq!((status, body), (200, format!("Drop peer: {c_id}")));
    let other = NodeIdentity::from_seed([9; 32]).node_id();
    let (status, _, body) = get(http, &format!("/ban?node={other}")).await;
    assert_eq!((status, body), (200, format!("Ban peer: {other}")));
    let (status, _, body) = get(http, &format!("/unban?node={other}")).await;
    assert_eq!((status, body), (200, format!("Unban peer: {other}")));
    assert_eq!(json(http, "/bans").await["bans"].as_array().unwrap().len(), 1);

    // Errors: JSON with the right status.
    for (path, status) in [
        ("/droppeer?node=GAAAAA", 404),
        ("/droppeer", 400),
        ("/connect?peer=127.0.0.1&port=0", 400),
        ("/connect?peer=127.0.0.1", 400),
        ("/nosuchcommand", 404),
    ] {
        let (s, ctype, body) = get(http, path).await;
        assert_eq!(s, status, "{path}: {body}");
        assert!(ctype.starts_with("application/json"), "{path}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "error");
        assert!(!v["error"].as_str().unwrap().is_empty());
    }

    // The ban survives a restart from the same database.
    a.shutdown().await;
    let a = node(1, Some(db.clone())).await;
    let http = admin(&a).await;
    assert_eq!(json(http, "/bans").await["bans"], serde_json::json!([b_id.to_string()]));
    for m in [a, b, c] {
        m.shutdown().await;
    }
    let _ = std::fs::remove_file(&db);
    let _: Option<NodeId> = None;
}

/// Python's `prometheus_client` OpenMetrics parser on `text`: the families it finds, as
/// `name type samples` lines. The package is installed with pip if it is missing.
fn python_parse(text: &str) -> Result<String, String> {
    python::ensure("prometheus_client", "prometheus_client");
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    print(f.name, f.type, len(f.samples))
"#;
    python::run(script, text)
}

// After transactions cross three nodes, the scrape parses with a standard parser and holds
// the counters, labels and histograms with sensible values; every family of the Grafana
// dashboard is exported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_scrape_parses_and_the_dashboard_names_only_exported_metrics() {
    let a = node(11, None).await;
    let b = node(12, None).await;
    let c = node(13, None).await;
    b.connect(&PeerAddress::from(a.local_addr().unwrap())).await.unwrap();
    c.connect(&PeerAddress::from(b.local_addr().unwrap())).await.unwrap();
    let mut at_c = c.subscribe();
    for n in 0..30 {
        a.broadcast(transaction_message(n)).await.unwrap();
    }
    let mut got = 0;
    tokio::time::timeout(WAIT, async {
        while got < 30 {
            let m = at_c.recv().await.unwrap();
            if m.first_seen && m.message.discriminant() == overlay_proto::xdr::MessageType::Transaction {
                got += 1;
            }
        }
    })
    .await
    .expect("30 transactions crossed");
    // A drop, so that the drops family has a series.
    let mut events = b.events();
    c.disconnect(&b.node_id()).await.unwrap();
    let c_id = c.node_id();
    wait_for(&mut events, |e| matches!(e, OverlayEvent::Disconnected { peer: Some(p), .. } if *p == c_id)).await;
    let http = admin(&b).await;
    let (status, ctype, text) = get(http, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(ctype, overlay_admin::prometheus::CONTENT_TYPE);
    assert!(text.ends_with("# EOF\n"));
    // Sensible values.
    assert!(text.contains("stellar_overlay_read_messages_total{type=\"TRANSACTION\"} 30"), "{text}");
    assert!(text.contains("stellar_overlay_pull_latency_seconds_count 30"));
    assert!(text.contains("stellar_overlay_connections{state=\"authenticated\",direction=\"outbound\"} 1"));
    assert!(text.contains("stellar_overlay_drops_total{reason=\"remote_error\"} 1"));
    assert!(text.contains("# HELP stellar_overlay_pull_demanded_hashes Transaction hashes sent in FLOOD_DEMAND.\n"));
    assert!(text.contains("stellar_overlay_outbound_queue_delay_seconds_bucket{le=\"+Inf\",priority=\"advert\"}"));
    assert!(text.contains("stellar_overlay_message_processing_seconds_count{type=\"TRANSACTION\"}"));
    // Every documented family is in the scrape.
    for f in overlay_admin::prometheus::FAMILIES {
        let stem = f.name.strip_suffix("_total").unwrap_or(f.name);
        assert!(text.contains(&format!("# TYPE {stem} {}", f.kind)), "{} missing", f.name);
    }
    // A standard parser reads it.
    let parsed = python_parse(&text).expect("the Python prometheus_client parser reads the scrape");
    assert!(parsed.lines().count() >= overlay_admin::prometheus::FAMILIES.len());
    assert!(parsed.contains("stellar_overlay_pull_latency_seconds histogram"));
    assert!(parsed.contains("stellar_overlay_read_messages counter"));
    // Every metric the dashboard's expressions name is exported.
    let dashboard: Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/overlay.json"))).unwrap();
    let mut names = Vec::new();
    collect_exprs(&dashboard, &mut names);
    assert!(names.len() >= 10, "the dashboard has panels: {names:?}");
    for n in names {
        let family = ["_bucket", "_count", "_sum"].iter().fold(n.as_str(), |s, suf| s.strip_suffix(suf).unwrap_or(s));
        let family = family.strip_suffix("_total").unwrap_or(family);
        assert!(text.contains(&format!("# TYPE {family} ")), "the dashboard names {n}, which is not exported");
    }
    // The JSON shape of stellar-core's `metrics` command.
    let j = json(http, "/metrics?format=json").await;
    assert!(j["metrics"]["overlay.recv.transaction"]["count"].as_u64().unwrap() >= 30);
    assert_eq!(j["metrics"]["overlay.flood.tx-pull-latency"]["type"], "timer");
    for m in [a, b, c] {
        m.shutdown().await;
    }
}

/// Every `stellar_overlay_...` name in the `expr` fields of a Grafana dashboard.
fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "expr" {
                    let e = x.as_str().unwrap_or_default();
                    let mut rest = e;
                    while let Some(i) = rest.find("stellar_overlay_") {
                        let tail = &rest[i..];
                        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
                        out.push(tail[..end].to_string());
                        rest = &tail[end..];
                    }
                } else {
                    collect_exprs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_exprs(x, out)),
        _ => {}
    }
}
