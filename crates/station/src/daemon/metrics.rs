//! The metrics server beside the API server: `GET /metrics` on the `[metrics]` address
//! (plain HTTP, [`parley_metrics::serve`]: bounded connections, no request body read, one
//! scrape gathering at a time). Each scrape asks the driver for one status report, as the
//! API's `status` request does, waiting for it without holding a thread; only then is the
//! report written as Prometheus text ([`crate::metrics`]), on a blocking thread (bounded work:
//! one report), with the console's counters.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::{Call, Calls};
use crate::api::Reply;
use crate::core::Command;
use crate::metrics::ConsoleCounters;

/// Serves metrics on `listener` until the runtime stops.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    calls: Calls,
    console: Arc<ConsoleCounters>,
) {
    let scrape = move || scrape(calls.clone(), console.clone());
    parley_metrics::serve(listener, scrape, std::future::pending()).await;
}

/// The text of one scrape, or `None` if the station gave no status (it is stopping).
async fn scrape(calls: Calls, console: Arc<ConsoleCounters>) -> Option<String> {
    let (reply, answer) = oneshot::channel();
    let command = Command::Status;
    if calls.send(Call { command, reply }).await.is_err() {
        tracing::debug!("a metrics scrape found the station stopping");
        return None;
    }
    let report = match answer.await {
        Ok(Ok(Reply::Status(report))) => report,
        Ok(Ok(_)) => return None,
        Ok(Err(error)) => {
            tracing::debug!(%error, "a metrics scrape found no status");
            return None;
        }
        Err(_) => {
            tracing::debug!("the station stopped before answering a metrics scrape");
            return None;
        }
    };
    let written =
        tokio::task::spawn_blocking(move || crate::metrics::exposition(*report, &console));
    written.await.ok()
}
