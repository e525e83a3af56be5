//! Forms and query strings as the console takes them.
//!
//! A form is `application/x-www-form-urlencoded`, every name and value UTF-8 once decoded.
//! Axum's own `Form` decodes a byte sequence that is not UTF-8 into U+FFFD and goes on, so a
//! message could be sent with text the operator never typed; this one refuses the request
//! (400) and nothing is done.
//!
//! A page's query string is read only once the session is checked ([`Query`]), so a request
//! without a session is sent to the login page whatever its query, as every page's is.

use axum::body::{Body, Bytes};
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A form whose every name and value is UTF-8 text (the login's: it has no session to check
/// first).
pub(crate) struct Form<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (content_type, bytes) = body(request, state).await?;
        if !utf8_form(&bytes) {
            return Err((StatusCode::BAD_REQUEST, NOT_UTF8).into_response());
        }
        let form = parsed(content_type.as_ref(), bytes, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self(form))
    }
}

/// The form of an action: its CSRF token, read first, and the rest, which the action reads
/// only once the session and the token are checked. A form that cannot be read (not a form,
/// a field missing or malformed, a name or value that is not UTF-8 once decoded) is then the
/// action's refusal, audited like any other; a request without the session's token is
/// refused before, and learns nothing of how its form would have been read.
pub(crate) struct ActionForm<T> {
    /// The `csrf` field (empty when the form has none, or has it twice).
    pub(crate) csrf: String,
    /// The form, or why it cannot be read.
    pub(crate) fields: Result<T, String>,
}

/// The token alone.
#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ActionForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (content_type, bytes) = body(request, state).await?;
        let csrf = parsed::<Token, S>(content_type.as_ref(), bytes.clone(), state)
            .await
            .map(|token| token.csrf)
            .unwrap_or_default();
        let fields = if utf8_form(&bytes) {
            parsed(content_type.as_ref(), bytes, state)
                .await
                .map_err(|error| {
                    let error = error.body_text();
                    format!("the form cannot be read: {error}; nothing was done")
                })
        } else {
            Err(NOT_UTF8.to_owned())
        };
        Ok(Self { csrf, fields })
    }
}

/// A request's content type and body, read within the route's body limit
/// (`DefaultBodyLimit`), as axum's own `Form` reads it.
async fn body<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<(Option<HeaderValue>, Bytes), Response> {
    let content_type = request.headers().get(CONTENT_TYPE).cloned();
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((content_type, bytes))
}

/// Why a form with a name or value that is not UTF-8 is refused.
const NOT_UTF8: &str = "a field of the form is not UTF-8 text once decoded; nothing was done";

/// The form in `bytes` as axum's `Form` reads it, or its refusal.
async fn parsed<T: DeserializeOwned, S: Send + Sync>(
    content_type: Option<&HeaderValue>,
    bytes: Bytes,
    state: &S,
) -> Result<T, FormRejection> {
    let mut request = Request::new(Body::from(bytes));
    *request.method_mut() = Method::POST;
    if let Some(content_type) = content_type {
        request
            .headers_mut()
            .insert(CONTENT_TYPE, content_type.clone());
    }
    axum::extract::Form::<T>::from_request(request, state)
        .await
        .map(|axum::extract::Form(form)| form)
}

/// A page's query string, parsed or refused; the handler looks at it after the session.
pub(crate) struct Query<T>(Result<T, Response>);

impl<T> Query<T> {
    /// The query, or the refusal of a malformed one (400).
    pub(crate) fn parsed(self) -> Result<T, Response> {
        self.0
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let parsed = axum::extract::Query::<T>::from_request_parts(parts, state).await;
        Ok(Self(
            parsed
                .map(|axum::extract::Query(query)| query)
                .map_err(IntoResponse::into_response),
        ))
    }
}

/// Whether every name and value of `body` (`+` a space, `%XX` a byte) is UTF-8.
fn utf8_form(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').all(|pair| {
        let plus_as_space: Vec<u8> = pair
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        percent_encoding::percent_decode(&plus_as_space)
            .decode_utf8()
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::utf8_form;

    #[test]
    fn every_name_and_value_must_decode_to_utf8() {
        for good in [
            &b""[..],
            b"text=ab+cd&peer=Bravo",
            b"text=%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82",
            b"text=100%25",
            b"a=%zz",
        ] {
            assert!(utf8_form(good), "{}", String::from_utf8_lossy(good));
        }
        for bad in [
            &b"text=ab%FF%FEcd"[..],
            b"%C3=x",
            b"peer=Bravo&text=%D0",
            b"text=\xff",
        ] {
            assert!(!utf8_form(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
