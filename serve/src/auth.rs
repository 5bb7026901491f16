//! The bearer token every mutating request carries ([`Secret`], compared in constant time).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::secret::Secret;
use crate::state::App;

/// On a loopback listener (`Some` of its address), refuses a request addressed to any host but
/// a loopback one: a web page whose name its owner made resolve to 127.0.0.1 (DNS rebinding)
/// would otherwise read, as its own origin, every read of the API, which needs no token. A
/// request without a `Host` (no browser sends one) passes.
pub(crate) async fn require_local_host(
    State(loopback): State<Option<SocketAddr>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(address) = loopback else {
        return next.run(request).await;
    };
    let host = request
        .uri()
        .host()
        .map(str::to_owned)
        .or_else(|| host_of(request.headers().get(header::HOST)?.as_bytes()));
    match host {
        Some(host) if !is_loopback_name(&host) => ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this server listens on loopback and answers only requests addressed to it, not \
                 to {host}"
            ),
        )
        .with_next(format!(
            "open it as http://127.0.0.1:{port}/ or http://localhost:{port}/ (a proxy in front \
             of it sends Host: localhost)",
            port = address.port()
        ))
        .into_response(),
        _ => next.run(request).await,
    }
}

/// The host of a `Host` header's value, without its port (an IPv6 address keeps its brackets).
fn host_of(value: &[u8]) -> Option<String> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let host = match value.strip_prefix('[') {
        Some(rest) => &value[..rest.find(']').map_or(value.len(), |end| end + 2)],
        None => value.rsplit_once(':').map_or(value, |(host, _)| host),
    };
    Some(host.to_owned())
}

/// Whether `host` names this machine's loopback: `localhost` or a loopback address.
fn is_loopback_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
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
    // The header's bytes as UTF-8, not `to_str` (visible ASCII only): a token of non-ASCII
    // text must be sendable. The scheme is case-insensitive (RFC 9110, 11.1).
    let offered = header
        .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
        .and_then(|value| value.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
        .map(|(_, offered)| offered);
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

    #[test]
    fn only_loopback_names_are_loopback() {
        let host = |v: &str| host_of(v.as_bytes()).unwrap_or_default();
        assert_eq!(host("localhost:8080"), "localhost");
        assert_eq!(host("[::1]:8080"), "[::1]");
        assert_eq!(host("[::1]"), "[::1]");
        assert_eq!(host("example.net"), "example.net");
        for name in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(is_loopback_name(name), "{name}");
        }
        for name in [
            "example.net",
            "localhost.example.net",
            "127.0.0.1.nip.io",
            "0.0.0.0",
            "[::]",
            "[::ffff:10.0.0.1]",
        ] {
            assert!(!is_loopback_name(name), "{name}");
        }
    }

    /// The scheme of an Authorization header is case-insensitive (RFC 9110, 11.1): a client
    /// that sends `bearer` or `BEARER` with the right token was refused, and told it had sent
    /// no header at all.
    #[test]
    fn the_scheme_is_matched_whatever_its_case() {
        let secret = Secret::new("tok");
        for header in ["bearer tok", "BEARER tok", "Bearer  tok"] {
            let sent = HeaderValue::from_static(header);
            assert!(check(secret.as_ref(), Some(&sent)).is_ok(), "{header}");
        }
        let bad = HeaderValue::from_static("Basic tok");
        let refused = check(secret.as_ref(), Some(&bad)).err();
        assert!(
            refused.is_some_and(|e| format!("{e:?}").contains("Bearer")),
            "a wrong scheme is refused naming the one to use"
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
