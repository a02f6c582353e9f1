//! The admin commands over HTTP (axum): `GET /<command>?<parameters>`, as stellar-core's
//! admin port serves them.

use crate::commands::{Admin, Body, Reply};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use overlay_host::Overlay;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.body {
            Body::Json(v) => (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
            Body::Text(t) => (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], t).into_response(),
            Body::OpenMetrics(t) => {
                (status, [(header::CONTENT_TYPE, crate::prometheus::CONTENT_TYPE)], t).into_response()
            }
        }
    }
}

async fn command<M: Overlay + core::fmt::Debug>(
    State(admin): State<Admin<M>>,
    Path(name): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Reply {
    admin.handle(&name, &params).await
}

async fn index<M: Overlay + core::fmt::Debug>(
    State(admin): State<Admin<M>>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Reply {
    admin.handle("info", &params).await
}

/// The router: `/` is `info`, `/<command>` each command.
pub fn router<M: Overlay + core::fmt::Debug>(admin: Admin<M>) -> Router {
    Router::new().route("/", get(index::<M>)).route("/{command}", get(command::<M>)).with_state(admin)
}

/// Serve `admin` on `addr` until the task is aborted; returns the bound address.
pub async fn serve<M: Overlay + core::fmt::Debug>(
    addr: SocketAddr,
    admin: Admin<M>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(admin);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, task))
}
