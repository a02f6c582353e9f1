//! The Prometheus (OpenMetrics) exposition of an [`OverlaySnapshot`], on the `prometheus-client`
//! crate: `stellar_overlay_` names, `_total` counters, units in names, HELP text, labels
//! instead of name variants, histograms. [`FAMILIES`] lists every family with the stellar-core
//! (medida) metric it corresponds to.

use overlay_node::metrics::Histogram;
use overlay_proto::MessageClass;
use overlay_tokio::OverlaySnapshot;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};
use std::collections::BTreeMap;

/// The prefix of every name.
pub const PREFIX: &str = "stellar_overlay";

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A metric family: its full name as scraped (with `_total` for counters), its type, and the
/// stellar-core metrics it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyDoc {
    /// The full name.
    pub name: &'static str,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    /// Labels.
    pub labels: &'static str,
    /// stellar-core's medida names (PROTOCOL.md §14).
    pub medida: &'static str,
}

/// Every family [`encode`] writes (the docs and the Grafana dashboard are checked against it).
pub const FAMILIES: &[FamilyDoc] = &[
    FamilyDoc {
        name: "stellar_overlay_read_messages_total",
        kind: "counter",
        labels: "type",
        medida: "overlay.message.read, overlay.recv.<type>",
    },
    FamilyDoc {
        name: "stellar_overlay_read_bytes_total",
        kind: "counter",
        labels: "type",
        medida: "overlay.byte.read",
    },
    FamilyDoc {
        name: "stellar_overlay_written_messages_total",
        kind: "counter",
        labels: "type",
        medida: "overlay.message.write, overlay.send.<type>",
    },
    FamilyDoc {
        name: "stellar_overlay_written_bytes_total",
        kind: "counter",
        labels: "type",
        medida: "overlay.byte.write",
    },
    FamilyDoc {
        name: "stellar_overlay_drops_total",
        kind: "counter",
        labels: "reason",
        medida: "overlay.inbound.drop, overlay.outbound.drop, overlay.timeout.*",
    },
    FamilyDoc {
        name: "stellar_overlay_connection_attempts_total",
        kind: "counter",
        labels: "direction",
        medida: "overlay.inbound.attempt, overlay.outbound.attempt",
    },
    FamilyDoc {
        name: "stellar_overlay_connections_established_total",
        kind: "counter",
        labels: "direction",
        medida: "overlay.inbound.establish, overlay.outbound.establish",
    },
    FamilyDoc {
        name: "stellar_overlay_connections_dropped_total",
        kind: "counter",
        labels: "direction",
        medida: "overlay.inbound.drop, overlay.outbound.drop",
    },
    FamilyDoc {
        name: "stellar_overlay_connections_refused_total",
        kind: "counter",
        labels: "direction",
        medida: "overlay.inbound.reject, overlay.outbound.cancel",
    },
    FamilyDoc {
        name: "stellar_overlay_connections",
        kind: "gauge",
        labels: "state, direction",
        medida: "overlay.connection.pending, overlay.connection.authenticated",
    },
    FamilyDoc {
        name: "stellar_overlay_throttled_seconds_total",
        kind: "counter",
        labels: "",
        medida: "overlay.connection.flood-throttle",
    },
    FamilyDoc {
        name: "stellar_overlay_throttled_connections",
        kind: "gauge",
        labels: "",
        medida: "overlay.connection.flood-throttle",
    },
    FamilyDoc {
        name: "stellar_overlay_read_throttled_connections",
        kind: "gauge",
        labels: "",
        medida: "overlay.connection.read-throttle",
    },
    FamilyDoc {
        name: "stellar_overlay_outbound_queue_messages",
        kind: "gauge",
        labels: "priority",
        medida: "overlay.outbound-queue.*",
    },
    FamilyDoc {
        name: "stellar_overlay_outbound_queue_bytes",
        kind: "gauge",
        labels: "priority",
        medida: "overlay.outbound-queue.*",
    },
    FamilyDoc {
        name: "stellar_overlay_outbound_queue_dropped_total",
        kind: "counter",
        labels: "",
        medida: "overlay.outbound-queue.drop-*",
    },
    FamilyDoc {
        name: "stellar_overlay_outbound_queue_delay_seconds",
        kind: "histogram",
        labels: "priority",
        medida: "overlay.outbound-queue.{scp,tx,advert,demand}",
    },
    FamilyDoc {
        name: "stellar_overlay_flood_received_total",
        kind: "counter",
        labels: "first_seen",
        medida: "overlay.flood.unique-recv, overlay.flood.duplicate-recv",
    },
    FamilyDoc {
        name: "stellar_overlay_flood_duplicate_ratio",
        kind: "gauge",
        labels: "",
        medida: "overlay.flood.duplicate-recv / (unique + duplicate)",
    },
    FamilyDoc {
        name: "stellar_overlay_flood_broadcast_total",
        kind: "counter",
        labels: "",
        medida: "overlay.message.broadcast",
    },
    FamilyDoc {
        name: "stellar_overlay_pull_advertised_hashes_total",
        kind: "counter",
        labels: "",
        medida: "overlay.flood.advertised",
    },
    FamilyDoc {
        name: "stellar_overlay_pull_demanded_hashes_total",
        kind: "counter",
        labels: "",
        medida: "overlay.flood.demanded",
    },
    FamilyDoc {
        name: "stellar_overlay_pull_fulfilled_total",
        kind: "counter",
        labels: "",
        medida: "overlay.flood.fulfilled",
    },
    FamilyDoc {
        name: "stellar_overlay_pull_demand_retries_total",
        kind: "counter",
        labels: "",
        medida: "overlay.demand.timeout",
    },
    FamilyDoc {
        name: "stellar_overlay_pull_abandoned_demands_total",
        kind: "counter",
        labels: "",
        medida: "overlay.flood.abandoned-demands",
    },
    FamilyDoc {
        name: "stellar_overlay_pull_latency_seconds",
        kind: "histogram",
        labels: "",
        medida: "overlay.flood.tx-pull-latency",
    },
    FamilyDoc {
        name: "stellar_overlay_fetch_received_total",
        kind: "counter",
        labels: "first_seen",
        medida: "overlay.fetch.unique-recv, overlay.fetch.duplicate-recv",
    },
    FamilyDoc {
        name: "stellar_overlay_fetch_next_peer_total",
        kind: "counter",
        labels: "",
        medida: "overlay.item-fetcher.next-peer",
    },
    FamilyDoc {
        name: "stellar_overlay_fetch_latency_seconds",
        kind: "histogram",
        labels: "",
        medida: "(none: stellar-core has no fetch timer)",
    },
    FamilyDoc {
        name: "stellar_overlay_queries_ignored_total",
        kind: "counter",
        labels: "",
        medida: "(none: silence of §8.6)",
    },
    FamilyDoc {
        name: "stellar_overlay_message_processing_seconds",
        kind: "histogram",
        labels: "type",
        medida: "overlay.recv.<type> (timers)",
    },
    FamilyDoc {
        name: "stellar_overlay_application_total",
        kind: "counter",
        labels: "event",
        medida: "(none: the application boundary)",
    },
    FamilyDoc { name: "stellar_overlay_uptime_seconds", kind: "gauge", labels: "", medida: "(none)" },
];

/// Histograms with labels, already counted.
#[derive(Debug, Default)]
struct Histograms(Vec<(Vec<(String, String)>, Histogram)>);

impl TypedMetric for Histograms {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histograms {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, h) in &self.0 {
            let buckets = h.buckets();
            let sum = h.sum().as_secs_f64();
            if labels.is_empty() {
                encoder.encode_histogram::<NoLabelSet>(sum, h.count(), &buckets, None)?;
            } else {
                encoder.encode_family(labels)?.encode_histogram::<NoLabelSet>(sum, h.count(), &buckets, None)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

struct Builder {
    registry: Registry,
}

impl Builder {
    fn counter(&mut self, name: &str, help: &str, series: Vec<(Labels, u64)>) {
        let family = Family::<Labels, Counter>::default();
        for (l, v) in series {
            family.get_or_create(&l).inc_by(v);
        }
        self.registry.register(name, help, family);
    }

    fn counter1(&mut self, name: &str, help: &str, v: u64) {
        let c = Counter::<u64>::default();
        c.inc_by(v);
        self.registry.register(name, help, c);
    }

    fn seconds_counter(&mut self, name: &str, help: &str, v: f64) {
        let c = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        c.inc_by(v);
        self.registry.register_with_unit(name, help, Unit::Seconds, c);
    }

    fn gauge(&mut self, name: &str, help: &str, series: Vec<(Labels, i64)>) {
        let family = Family::<Labels, Gauge>::default();
        for (l, v) in series {
            family.get_or_create(&l).set(v);
        }
        self.registry.register(name, help, family);
    }

    fn gauge1(&mut self, name: &str, help: &str, v: i64) {
        let g = Gauge::<i64>::default();
        g.set(v);
        self.registry.register(name, help, g);
    }

    fn histograms(&mut self, name: &str, help: &str, series: Vec<(Labels, Histogram)>) {
        self.registry.register_with_unit(name, help, Unit::Seconds, Histograms(series));
    }
}

const PRIORITIES: [&str; 4] = ["scp", "transaction", "demand", "advert"];

/// The OpenMetrics text of `s` (content type [`CONTENT_TYPE`]).
pub fn encode(s: &OverlaySnapshot) -> String {
    let c: BTreeMap<&str, u64> = s.node.counters.iter().copied().collect();
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    let mut b = Builder { registry: Registry::with_prefix(PREFIX) };
    let by_type = |rows: Vec<(overlay_proto::xdr::MessageType, u64, u64)>, bytes: bool| {
        rows.into_iter()
            .map(|(t, m, by)| (labels(&[("type", t.wire_name())]), if bytes { by } else { m }))
            .collect::<Vec<_>>()
    };
    b.counter("read_messages", "Messages read, per message type", by_type(s.node.traffic.read(), false));
    b.counter(
        "read_bytes",
        "Bytes read (frame headers included), per message type",
        by_type(s.node.traffic.read(), true),
    );
    b.counter("written_messages", "Messages written, per message type", by_type(s.node.traffic.written(), false));
    b.counter(
        "written_bytes",
        "Bytes written (frame headers included), per message type",
        by_type(s.node.traffic.written(), true),
    );
    b.counter(
        "drops",
        "Connections ended, per reason",
        s.node.drops.iter().map(|(r, n)| (labels(&[("reason", r)]), *n)).collect(),
    );
    let dir = |inbound: &str, outbound: &str| {
        vec![(labels(&[("direction", "inbound")]), get(inbound)), (labels(&[("direction", "outbound")]), get(outbound))]
    };
    b.counter(
        "connection_attempts",
        "Connections accepted or dialed",
        dir("overlay.inbound.attempt", "overlay.outbound.attempt"),
    );
    b.counter(
        "connections_established",
        "Connections admitted to an authenticated slot",
        dir("overlay.inbound.establish", "overlay.outbound.establish"),
    );
    b.counter(
        "connections_dropped",
        "Authenticated connections dropped",
        dir("overlay.inbound.drop", "overlay.outbound.drop"),
    );
    b.counter(
        "connections_refused",
        "Inbound connections refused at accept (no pending slot), dials that failed",
        dir("overlay.inbound.reject", "overlay.outbound.cancel"),
    );
    let k = s.node.connections;
    let conn = |state: &str, direction: &str, v: u64| (labels(&[("state", state), ("direction", direction)]), v as i64);
    b.gauge(
        "connections",
        "Open connections, by state and direction",
        vec![
            conn("pending", "inbound", k.pending_inbound),
            conn("pending", "outbound", k.pending_outbound),
            conn("authenticated", "inbound", k.authenticated_inbound),
            conn("authenticated", "outbound", k.authenticated_outbound),
        ],
    );
    b.seconds_counter(
        "throttled",
        "Time connections spent with flood messages queued and no outbound credit",
        s.node.throttled.as_secs_f64(),
    );
    b.gauge1(
        "throttled_connections",
        "Connections with flood messages queued and no outbound credit now",
        s.node.throttled_connections as i64,
    );
    b.gauge1(
        "read_throttled_connections",
        "Connections whose reading is paused for capacity now",
        s.node.read_throttled_connections as i64,
    );
    let per_priority = |v: &[u64; 4]| {
        PRIORITIES.iter().zip(v).map(|(p, n)| (labels(&[("priority", p)]), *n as i64)).collect::<Vec<_>>()
    };
    b.gauge(
        "outbound_queue_messages",
        "Flood messages waiting in the outbound queues",
        per_priority(&s.node.queued_msgs),
    );
    b.gauge(
        "outbound_queue_bytes",
        "Bytes of the flood messages waiting in the outbound queues",
        per_priority(&s.node.queued_bytes),
    );
    b.counter1(
        "outbound_queue_dropped",
        "Flood messages shed from the outbound queues",
        get("overlay.outbound-queue.drop"),
    );
    b.histograms(
        "outbound_queue_delay",
        "Time flood messages waited in the outbound queues before being written",
        PRIORITIES.iter().zip(s.node.queue_delay).map(|(p, h)| (labels(&[("priority", p)]), h)).collect(),
    );
    let (unique, dup) = (get("overlay.flood.unique-recv"), get("overlay.flood.duplicate-recv"));
    b.counter(
        "flood_received",
        "Flood messages received, first seen or duplicates",
        vec![(labels(&[("first_seen", "true")]), unique), (labels(&[("first_seen", "false")]), dup)],
    );
    let ratio = if unique + dup == 0 { 0.0 } else { dup as f64 / (unique + dup) as f64 };
    let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    g.set(ratio);
    b.registry.register("flood_duplicate_ratio", "Duplicates among flood messages received (0 to 1).", g);
    b.counter1("flood_broadcast", "Messages flooded (broadcast calls)", get("overlay.message.broadcast"));
    b.counter1("pull_advertised_hashes", "Transaction hashes sent in FLOOD_ADVERT", get("overlay.flood.advertised"));
    b.counter1("pull_demanded_hashes", "Transaction hashes sent in FLOOD_DEMAND", get("overlay.flood.demanded"));
    b.counter1("pull_fulfilled", "Transactions sent for demands", get("overlay.flood.fulfilled"));
    b.counter1("pull_demand_retries", "Demands sent to a second or later peer", get("overlay.demand.timeout"));
    b.counter1("pull_abandoned_demands", "Demands given up", get("overlay.flood.abandoned-demands"));
    b.histograms(
        "pull_latency",
        "From the first demand of a transaction to its arrival",
        vec![(Vec::new(), s.node.pull_latency)],
    );
    b.counter(
        "fetch_received",
        "Tx sets and quorum sets received, fetched by us or not",
        vec![
            (labels(&[("first_seen", "true")]), get("overlay.fetch.unique-recv")),
            (labels(&[("first_seen", "false")]), get("overlay.fetch.duplicate-recv")),
        ],
    );
    b.counter1(
        "fetch_next_peer",
        "Fetches moved to the next peer (timeout or DONT_HAVE)",
        get("overlay.item-fetcher.next-peer"),
    );
    b.histograms(
        "fetch_latency",
        "From the first request for a tx set or quorum set to its arrival",
        vec![(Vec::new(), s.node.fetch_latency)],
    );
    b.counter1("queries_ignored", "Requests ignored by the per-peer query limits", get("overlay.query.ignored"));
    b.histograms(
        "message_processing",
        "Time the node took to process what it read, shared evenly among each read's messages",
        s.processing.iter().map(|(t, h)| (labels(&[("type", t.wire_name())]), *h)).collect(),
    );
    b.counter(
        "application",
        "The application boundary: deliveries not made, given up or expired, verdicts for nothing pending",
        vec![
            (labels(&[("event", "tx_refused")]), get("overlay.app.tx-refused")),
            (labels(&[("event", "envelope_evicted")]), get("overlay.app.envelope-evicted")),
            (labels(&[("event", "verdict_expired")]), get("overlay.app.verdict-expired")),
            (labels(&[("event", "verdict_unknown")]), get("overlay.app.verdict-unknown")),
            (labels(&[("event", "delivery_missed")]), s.deliveries_missed),
            (labels(&[("event", "rate_limited")]), get("overlay.flood.rate-limited")),
            (labels(&[("event", "store_failure")]), s.store_failures),
        ],
    );
    b.gauge1("uptime_seconds", "Seconds since the overlay started", s.uptime_secs as i64);
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &b.registry).is_err() {
        out.clear();
    }
    out
}
