//! stellar-core's survey commands over HTTP (issue 15): A (with the admin endpoint) dials B,
//! B dials C; `startsurveycollecting`, `stopsurveycollecting`, `surveytopologytimesliced` for
//! B and C, then `getsurveyresult` in stellar-core's JSON until both answered. Texts are
//! stellar-core's; errors are JSON with 400, 409 or 503.

use overlay_admin::Admin;
use overlay_auth::NodeIdentity;
use overlay_proto::{Network, NodeId, PeerAddress};
use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

fn id(seed: u8) -> NodeId {
    NodeIdentity::from_seed([seed; 32]).node_id()
}

async fn node(seed: u8, surveyor: Option<NodeId>) -> OverlayManager {
    let config = OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        listen_port: 0,
        allow_localhost_for_testing: true,
        run_standalone: true,
        surveyor_keys: surveyor.into_iter().collect(),
        survey_request_period: Duration::from_millis(300),
        ..OverlayConfig::default()
    };
    let local = LocalNode::new(NodeIdentity::from_seed([seed; 32]), Network::Standalone.id());
    let m = OverlayManager::new(config, local).unwrap();
    m.start().await.unwrap();
    m
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

/// A command answered in text with 200.
async fn text(addr: SocketAddr, path: &str) -> String {
    let (status, ctype, body) = get(addr, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    assert!(ctype.starts_with("text/plain"), "{path}: {ctype}");
    body
}

/// A command refused: its status and JSON error message.
async fn refused(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, ctype, body) = get(addr, path).await;
    assert!(ctype.starts_with("application/json"), "{path}: {ctype} {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "error", "{body}");
    (status, v["error"].as_str().unwrap().to_string())
}

async fn result(addr: SocketAddr) -> Value {
    let (status, ctype, body) = get(addr, "/getsurveyresult").await;
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("application/json"));
    serde_json::from_str(&body).unwrap()
}

fn peer_ids(list: &Value) -> BTreeSet<String> {
    list.as_array().into_iter().flatten().map(|p| p["nodeId"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survey_runs_over_the_admin_commands() {
    let (a_id, b_id, c_id) = (id(1), id(2), id(3));
    let a = node(1, None).await;
    let b = node(2, Some(a_id)).await;
    let c = node(3, Some(a_id)).await;
    a.connect(&PeerAddress::from(b.local_addr().unwrap())).await.unwrap();
    b.connect(&PeerAddress::from(c.local_addr().unwrap())).await.unwrap();
    let http = overlay_admin::http::serve("127.0.0.1:0".parse().unwrap(), Admin::new(a.clone())).await.unwrap().0;

    // Before any survey: nothing in progress, nothing to stop or ask.
    let r = result(http).await;
    assert_eq!(r["surveyInProgress"], false);
    assert!(r["backlog"].is_null() && r["badResponseNodes"].is_null());
    assert_eq!(r["topology"], serde_json::json!({}));
    assert_eq!(r["phase"], "inactive");
    let (status, e) = refused(http, "/stopsurveycollecting").await;
    assert_eq!(status, 409);
    assert!(e.starts_with("Failed to stop survey collecting."), "{e}");
    let topo = |node: &NodeId| format!("/surveytopologytimesliced?node={node}&inboundpeerindex=0&outboundpeerindex=0");
    assert_eq!(refused(http, &topo(&b_id)).await.0, 409);

    // Bad parameters.
    assert_eq!(refused(http, "/startsurveycollecting").await.0, 400);
    assert_eq!(refused(http, "/startsurveycollecting?nonce=-1").await.0, 400);
    assert_eq!(
        refused(http, "/surveytopologytimesliced?node=GNOPE&inboundpeerindex=0&outboundpeerindex=0").await.0,
        400
    );
    assert_eq!(refused(http, &format!("/surveytopologytimesliced?node={b_id}&inboundpeerindex=0")).await.0, 400);

    // Start (once), stop, then ask B and C.
    assert_eq!(text(http, "/startsurveycollecting?nonce=1234").await, "Requested network to start survey collecting.");
    let (status, e) = refused(http, "/startsurveycollecting?nonce=5").await;
    assert_eq!(
        (status, e.as_str()),
        (409, "Failed to start survey collecting. Another survey is active on the network.")
    );
    assert_eq!(result(http).await["phase"], "collecting");
    assert_eq!(text(http, "/stopsurveycollecting").await, "Requested network to stop survey collecting.");
    let (status, e) = refused(http, &topo(&a_id)).await;
    assert_eq!(status, 400);
    assert!(e.contains("self"), "{e}");
    assert_eq!(text(http, &topo(&b_id)).await, "Adding node.Survey started ");
    assert_eq!(text(http, &topo(&c_id)).await, "Adding node.Survey already running!");

    let r = tokio::time::timeout(WAIT, async {
        loop {
            let r = result(http).await;
            let topology = r["topology"].as_object().unwrap();
            if [b_id, c_id].iter().all(|n| topology.get(&n.to_string()).is_some_and(|t| !t.is_null())) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("B and C answered in time");

    assert_eq!(r["surveyInProgress"], true);
    assert_eq!(r["nonce"], 1234);
    assert_eq!(r["phase"], "reporting");
    assert!(r["backlog"].is_null(), "{r}");
    assert!(r["badResponseNodes"].is_null());
    let tb = &r["topology"][b_id.to_string()];
    assert_eq!(tb["numTotalInboundPeers"], 1);
    assert_eq!(tb["numTotalOutboundPeers"], 1);
    assert_eq!(tb["maxInboundPeerCount"], 64);
    assert_eq!(tb["maxOutboundPeerCount"], 8);
    assert_eq!(tb["isValidator"], false);
    for key in [
        "addedAuthenticatedPeers",
        "droppedAuthenticatedPeers",
        "p75SCPFirstToSelfLatencyMs",
        "p75SCPSelfToOtherLatencyMs",
        "lostSyncCount",
    ] {
        assert!(tb[key].is_u64(), "{key}: {tb}");
    }
    assert_eq!(peer_ids(&tb["inboundPeers"]), [a_id.to_string()].into());
    assert_eq!(peer_ids(&tb["outboundPeers"]), [c_id.to_string()].into());
    let link = &tb["outboundPeers"][0];
    assert!(link["version"].as_str().unwrap().starts_with("stellar-overlay-rs"));
    for key in [
        "messagesRead",
        "messagesWritten",
        "bytesRead",
        "bytesWritten",
        "secondsConnected",
        "uniqueFloodBytesRecv",
        "duplicateFloodBytesRecv",
        "uniqueFetchBytesRecv",
        "duplicateFetchBytesRecv",
        "uniqueFloodMessageRecv",
        "duplicateFloodMessageRecv",
        "uniqueFetchMessageRecv",
        "duplicateFetchMessageRecv",
        "averageLatencyMs",
    ] {
        assert!(link[key].is_u64(), "{key}: {link}");
    }
    let tc = &r["topology"][c_id.to_string()];
    assert_eq!(peer_ids(&tc["inboundPeers"]), [b_id.to_string()].into());
    assert!(tc["outboundPeers"].is_null(), "an empty list is null, as stellar-core writes it");

    // Asked again while its first answer is kept: queued once more (a new page).
    assert_eq!(
        text(http, &format!("/surveytopologytimesliced?node={b_id}&inboundpeerindex=25&outboundpeerindex=25")).await,
        "Adding node.Survey already running!"
    );

    a.shutdown().await;
    let (status, _) = refused(http, "/getsurveyresult").await;
    assert_eq!(status, 503);
    b.shutdown().await;
    c.shutdown().await;
}
