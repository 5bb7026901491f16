//! The bearer token every mutating request carries ([`Secret`], compared in constant time).

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::secret::Secret;
use crate::state::App;

/// Lets reads through; every other method needs the configured bearer token.
pub(crate) async fn require_token(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    match check(app.token(), request.headers().get(header::AUTHORIZATION)) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Why a mutating request is refused, if it is.
fn check(token: Option<&Secret>, header: Option<&axum::http::HeaderValue>) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "mutating requests are disabled: the server has no token configured",
        )
        .with_next("set [serve] token_env (or token) in cutter.toml and restart iu-cutter serve"));
    };
    // The header's bytes as UTF-8, not `to_str` (visible ASCII only): a token of non-ASCII
    // text must be sendable.
    let offered = header
        .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match offered {
        Some(offered) if token.matches(offered.trim()) => Ok(()),
        Some(_) => Err(
            ApiError::new(StatusCode::UNAUTHORIZED, "wrong bearer token")
                .with_next("send the token configured for iu-cutter serve"),
        ),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this request changes things: it needs Authorization: Bearer <token>",
        )
        .with_next("send the token configured for iu-cutter serve")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_header_must_carry_the_token() {
        let secret = Secret::new("tok");
        let good = HeaderValue::from_static("Bearer tok");
        let bad = HeaderValue::from_static("Bearer nope");
        let basic = HeaderValue::from_static("Basic tok");
        assert!(check(secret.as_ref(), Some(&good)).is_ok());
        let status = |r: Result<(), ApiError>| r.err().map(|e| e.status());
        assert_eq!(
            status(check(secret.as_ref(), Some(&bad))),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(check(secret.as_ref(), Some(&basic))),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(check(secret.as_ref(), None)),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            status(check(None, Some(&good))),
            Some(StatusCode::FORBIDDEN)
        );
    }

    /// A configured token of non-ASCII text (a passphrase with an accent) could never be sent:
    /// the header's bytes were read as visible ASCII only, and the right token was refused as
    /// no header at all.
    #[test]
    fn a_token_of_non_ascii_text_is_matched() {
        let secret = Secret::new("korrekt-pferd-äöü");
        let sent = HeaderValue::from_bytes("Bearer korrekt-pferd-äöü".as_bytes());
        let Ok(sent) = sent else {
            panic!("UTF-8 is a valid header value: {sent:?}");
        };
        assert!(check(secret.as_ref(), Some(&sent)).is_ok());
    }
}
