//! The metrics server beside the API server: `GET /metrics` on the `[metrics]` address
//! (plain HTTP, [`parley_metrics::serve`]: bounded connections, no request body read). Each
//! scrape takes one status report through the same path as the API's `status` request — on
//! a blocking thread, answered by the driver — and writes it as Prometheus text
//! ([`crate::metrics`]).

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::{Call, call_blocking};
use crate::api::{Reply, Request, edge};

/// Serves metrics on `listener` until the runtime stops.
pub(super) async fn serve(listener: TcpListener, calls: mpsc::Sender<Call>) {
    let scrape = move || {
        let calls = calls.clone();
        async move {
            let scraped = tokio::task::spawn_blocking(move || {
                match edge::perform(Request::Status, |command| call_blocking(&calls, command)) {
                    Ok(Reply::Status(report)) => Some(crate::metrics::exposition(*report)),
                    Ok(_) => None,
                    Err(error) => {
                        tracing::debug!(%error, "a metrics scrape found no status");
                        None
                    }
                }
            })
            .await;
            scraped.ok().flatten()
        }
    };
    parley_metrics::serve(listener, scrape, std::future::pending()).await;
}
