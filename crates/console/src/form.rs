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
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A form whose every name and value is UTF-8 text.
pub(crate) struct Form<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request.headers().get(CONTENT_TYPE).cloned();
        // Within the route's body limit (`DefaultBodyLimit`), as axum's own `Form` reads.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !utf8_form(&bytes) {
            return Err((
                StatusCode::BAD_REQUEST,
                "a field of the form is not UTF-8 text once decoded; nothing was done",
            )
                .into_response());
        }
        let mut request = Request::new(Body::from(bytes));
        *request.method_mut() = Method::POST;
        if let Some(content_type) = content_type {
            request.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        let axum::extract::Form(form) = axum::extract::Form::<T>::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self(form))
    }
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
