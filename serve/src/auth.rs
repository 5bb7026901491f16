//! The bearer token every mutating request carries, compared in constant time.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::App;

/// A secret string (the bearer token): never printed, compared in constant time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`; an empty value is no secret (`None`).
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        (!value.trim().is_empty()).then(|| Secret(value.trim().to_owned()))
    }

    /// The secret itself, for a caller that must send it (a client, a test).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `offered` is this secret. Both sides are hashed first, so the comparison takes
    /// the same time whatever the lengths and wherever they differ.
    pub fn matches(&self, offered: &str) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let offered = Sha256::digest(offered.as_bytes());
        expected.ct_eq(&offered).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

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
    let offered = header
        .and_then(|value| value.to_str().ok())
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
    fn a_secret_matches_only_itself() {
        let secret = Secret::new("s3cret").into_iter().next();
        let Some(secret) = secret else {
            panic!("a non-empty secret");
        };
        assert!(secret.matches("s3cret"));
        assert!(!secret.matches("s3cre"));
        assert!(!secret.matches("s3cret "));
        assert!(!secret.matches(""));
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert!(Secret::new("  ").is_none());
    }

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
}
