//! The operator API server: one task per client connection, each line one request.

use std::sync::mpsc as std_mpsc;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

use crate::api::{API_LINE_SIZE_MAX_BYTES, Authenticated, Response, tokens_match};
use crate::daemon::Input;

/// Serves the API until the listener fails.
pub async fn serve_api(listener: UnixListener, token: String, inputs: std_mpsc::Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_client(stream, token.clone(), inputs.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "API accept failed");
                return;
            }
        }
    }
}

async fn serve_client(stream: UnixStream, token: String, inputs: std_mpsc::Sender<Input>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut lines).take(API_LINE_SIZE_MAX_BYTES as u64 + 1);
        match limited.read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => return,
        }
        let response = if line.len() > API_LINE_SIZE_MAX_BYTES {
            Response::error(format!(
                "request is over {API_LINE_SIZE_MAX_BYTES} bytes; nothing was done"
            ))
        } else {
            answer(&line, &token, &inputs).await
        };
        let mut out = serde_json::to_vec(&response).expect("responses serialise");
        out.push(b'\n');
        if write.write_all(&out).await.is_err() || line.len() > API_LINE_SIZE_MAX_BYTES {
            return;
        }
    }
}

async fn answer(line: &[u8], token: &str, inputs: &std_mpsc::Sender<Input>) -> Response {
    let request: Authenticated = match serde_json::from_slice(line) {
        Ok(request) => request,
        Err(error) => return Response::error(format!("malformed request: {error}")),
    };
    if !tokens_match(&request.token, token) {
        tracing::warn!("API request with a wrong token refused");
        return Response::error("wrong API token; nothing was done");
    }
    let (reply, answer) = oneshot::channel();
    if inputs.send(Input::Api(request.request, reply)).is_err() {
        return Response::error("the station is stopping");
    }
    answer
        .await
        .unwrap_or_else(|_| Response::error("the station stopped before answering"))
}
