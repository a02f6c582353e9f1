//! The `metrics` command in stellar-core's shape (`?format=json`): medida names (PROTOCOL.md
//! §14), counters as `{"type": "counter", "count": n}`, per-type traffic as meters
//! `overlay.recv.<type>` and `overlay.send.<type>`, histograms as timers in milliseconds.

use overlay_node::metrics::Histogram;
use overlay_proto::xdr::MessageType;
use overlay_tokio::OverlaySnapshot;
use serde_json::{Map, Value, json};

/// stellar-core's name for a message type in `overlay.recv.*` and `overlay.send.*`.
pub fn type_name(t: MessageType) -> &'static str {
    use MessageType as T;
    match t {
        T::ErrorMsg => "error",
        T::Auth => "auth",
        T::DontHave => "dont-have",
        T::Peers => "peers",
        T::GetTxSet => "get-txset",
        T::TxSet => "txset",
        T::GeneralizedTxSet => "txset",
        T::Transaction => "transaction",
        T::GetScpQuorumset => "get-scp-qset",
        T::ScpQuorumset => "scp-qset",
        T::ScpMessage => "scp-message",
        T::GetScpState => "get-scp-state",
        T::Hello => "hello",
        T::SendMore | T::SendMoreExtended => "send-more",
        T::FloodAdvert => "flood-advert",
        T::FloodDemand => "flood-demand",
        T::TimeSlicedSurveyRequest => "survey-request",
        T::TimeSlicedSurveyResponse => "survey-response",
        T::TimeSlicedSurveyStartCollecting => "start-survey-collecting",
        T::TimeSlicedSurveyStopCollecting => "stop-survey-collecting",
    }
}

fn timer(h: &Histogram) -> Value {
    let ms = |d: Option<core::time::Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let count = h.count();
    let sum = h.sum().as_secs_f64() * 1e3;
    json!({
        "type": "timer",
        "count": count,
        "duration_unit": "ms",
        "sum": sum,
        "mean": if count == 0 { 0.0 } else { sum / count as f64 },
        "median": ms(h.quantile(0.5)),
        "75%": ms(h.quantile(0.75)),
        "95%": ms(h.quantile(0.95)),
        "99%": ms(h.quantile(0.99)),
        "100%": ms(h.quantile(1.0)),
    })
}

/// `{"metrics": {...}}` of `s`.
pub fn json(s: &OverlaySnapshot) -> Value {
    let mut m = Map::new();
    for (name, v) in &s.node.counters {
        m.insert((*name).to_string(), json!({ "type": "counter", "count": v }));
    }
    let mut meter = |prefix: &str, rows: Vec<(MessageType, u64, u64)>| {
        for (t, n, _) in rows {
            let key = format!("{prefix}.{}", type_name(t));
            let prev = m.get(&key).and_then(|v| v["count"].as_u64()).unwrap_or(0);
            m.insert(key, json!({ "type": "meter", "count": prev + n, "event_type": "message" }));
        }
    };
    meter("overlay.recv", s.node.traffic.read());
    meter("overlay.send", s.node.traffic.written());
    for (prio, h) in ["scp", "tx", "demand", "advert"].iter().zip(&s.node.queue_delay) {
        m.insert(format!("overlay.outbound-queue.{prio}"), timer(h));
    }
    m.insert("overlay.flood.tx-pull-latency".into(), timer(&s.node.pull_latency));
    m.insert("overlay.fetch.latency".into(), timer(&s.node.fetch_latency));
    for (t, h) in &s.processing {
        m.insert(format!("overlay.recv-time.{}", type_name(*t)), timer(h));
    }
    m.insert(
        "overlay.connection.flood-throttle".into(),
        json!({ "type": "counter", "count": s.node.throttled.as_millis() as u64, "unit": "ms" }),
    );
    json!({ "metrics": Value::Object(m) })
}
