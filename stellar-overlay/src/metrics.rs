//! `--metrics ADDR`: the node's metrics in the Prometheus text exposition format.

use overlay_tokio::Overlay;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// `overlay.inbound.attempt` → `stellar_overlay_inbound_attempt`.
pub fn prometheus_name(name: &str) -> String {
    let mut out = String::from("stellar_");
    out.extend(name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }));
    out
}

/// The exposition text of `metrics`.
pub fn exposition(metrics: &[(&'static str, u64)]) -> String {
    let mut text = String::new();
    for (name, value) in metrics {
        let n = prometheus_name(name);
        let kind = if name.starts_with("overlay.connection.") { "gauge" } else { "counter" };
        text.push_str(&format!("# TYPE {n} {kind}\n{n} {value}\n"));
    }
    text
}

/// Serve the metrics on `addr` until the returned task is aborted.
pub async fn serve<M: Overlay>(addr: SocketAddr, manager: M) -> Result<JoinHandle<()>, String> {
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("--metrics {addr}: {e}"))?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { continue };
            let manager = manager.clone();
            tokio::spawn(async move {
                // Read (and ignore) the request head, bounded.
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), sock.read(&mut buf)).await;
                let body = match manager.metrics().await {
                    Ok(m) => exposition(&m),
                    Err(e) => format!("# unavailable: {e}\n"),
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    }))
}
