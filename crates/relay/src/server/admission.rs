//! A request's admission: authenticated from its headers alone (`Relay::admit`), steps 1 to 7
//! of docs/relay-api.md §2, then its body read within its bounds and checked against the
//! signed hash (`Relay::read_body`).

use super::*;

/// A request whose headers passed authentication: signature over the declared body hash,
/// admission, nonce, rate limit, declared length. Its body is still to be read and checked.
pub(super) struct Admitted {
    auth: RequestAuth,
    pub(super) nonce: NonceRecord,
    /// The length the headers declare, or the endpoint's limit if they declare none.
    declared_bytes: u64,
}

impl Admitted {
    pub(super) fn station(&self) -> StationId {
        self.auth.station
    }
}

impl Relay {
    /// Authenticates a request from its headers alone, before its body: headers and
    /// timestamp, signature over the declared body hash, admission, nonce, rate limit, and a
    /// declared length within `body_limit`. Marks the connection authenticated. A request
    /// that fails authentication closes its connection, even one authenticated before: each
    /// such attempt costs a new connection, and a station revoked keeps none.
    pub(super) async fn admit(
        &self,
        connection: &ConnectionHandle,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body_limit: usize,
    ) -> Result<Admitted, Refusal> {
        let (auth, nonce) = self
            .authenticate(method, uri, headers)
            .await
            .map_err(Refusal::closing)?;
        let station = auth.station;
        self.within_rate(&station)?;
        connection.authenticate(&station);
        let declared_bytes = match declared_length(headers) {
            Some(declared) if declared > body_limit as u64 => {
                return Err(over_limit(body_limit));
            }
            Some(declared) => declared,
            None => body_limit as u64,
        };
        Ok(Admitted {
            auth,
            nonce,
            declared_bytes,
        })
    }

    /// Steps 1 to 5 of a request's authentication (docs/relay-api.md §2): headers and
    /// timestamp, signature, admission and nonce.
    async fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(RequestAuth, NonceRecord), Refusal> {
        let auth = RequestAuth::from_headers(headers)?;
        auth.check_time(now_ms())?;
        let station = auth.station;
        let target = uri
            .path_and_query()
            .map_or_else(|| uri.path(), |target| target.as_str());
        let nonce = NonceRecord {
            station,
            nonce: auth.nonce,
            timestamp_ms: auth.timestamp_ms,
        };
        // The signature, then admission and nonce, here: together tens of microseconds, less
        // than the thread switches of a trip to the blocking pool and back. A worker never
        // waits for another's read: while one holds the admission connection, the check goes
        // to the blocking pool, on the reading connection.
        auth.verify(&self.id, method.as_str(), target)?;
        let here = match self.admission.try_lock() {
            Ok(admission) => Some(admission.check_request(&nonce)),
            Err(TryLockError::Poisoned(poisoned)) => {
                Some(poisoned.into_inner().check_request(&nonce))
            }
            Err(TryLockError::WouldBlock) => None,
        };
        let (status, seen) = match here {
            Some(checked) => checked?,
            None => {
                self.read(move |reader| reader.check_request(&nonce))
                    .await?
            }
        };
        match status {
            StationStatus::Admitted => {}
            StationStatus::Revoked => {
                return Err(StoreError::Revoked(station.key_fingerprint().to_string()).into());
            }
            StationStatus::Unknown => {
                return Err(StoreError::NotAdmitted(station.key_fingerprint().to_string()).into());
            }
        }
        if seen {
            return Err(StoreError::Replayed.into());
        }
        Ok((auth, nonce))
    }

    /// Reads the body of an admitted request, at most `limit` bytes within
    /// [`body_read_timeout_ms`] of its declared length, and checks it is the signed one.
    pub(super) async fn read_body(
        &self,
        request: &Admitted,
        body: Body,
        limit: usize,
    ) -> Result<Bytes, Refusal> {
        let station = request.station();
        let bytes = read_bounded(body, limit, request.declared_bytes)
            .await
            .map_err(|refusal| match refusal.status {
                StatusCode::REQUEST_TIMEOUT => refusal.by(station),
                _ => refusal,
            })?;
        let auth = request.auth.clone();
        let checked = if bytes.len() <= INLINE_BODY_SIZE_MAX_BYTES {
            auth.check_body(&bytes)
        } else {
            // Hashing up to a few MiB takes long enough to keep off the async workers.
            let body = bytes.clone();
            blocking(move || auth.check_body(&body)).await?
        };
        checked.map_err(|error| Refusal::from(error).by(station).closing())?;
        Ok(bytes)
    }
}

/// Reads a request body of at most `limit` bytes within [`body_read_timeout_ms`] of
/// `declared_bytes` (its declared length, or the limit if none is declared): 413 over the
/// limit, 408 too slow, 400 if it cannot be read.
pub(super) async fn read_bounded(
    body: Body,
    limit: usize,
    declared_bytes: u64,
) -> Result<Bytes, Refusal> {
    let timeout_ms = body_read_timeout_ms(declared_bytes);
    let timeout = Duration::from_millis(timeout_ms);
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => {
            let inner = error.into_inner();
            Err(if inner.is::<http_body_util::LengthLimitError>() {
                over_limit(limit)
            } else {
                Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("could not read the request body: {inner}"),
                )
            })
        }
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not received within {timeout_ms} ms"),
        )),
    }
}

/// The length a request's headers declare for its body, if they do.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse().ok())
}

pub(super) fn over_limit(limit: usize) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body is over the limit of {limit} bytes"),
    )
}
