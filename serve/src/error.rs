//! Errors: the server's own ([`ServeError`]) and what a request gets back ([`ApiError`]).

use std::net::SocketAddr;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use iu_cutter_live_execution::{AdapterError, DocumentId, RunId};
use serde::Serialize;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// A refused or failed request: its status, what went wrong and the caller's next action, as
/// JSON `{"error": …, "next": …}` plus any fields a client acts on (the kill switch's source).
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    /// The kill-switch source that closed execution.
    #[serde(skip_serializing_if = "Option::is_none")]
    switch: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                next: None,
                switch: None,
            },
        }
    }

    pub(crate) fn with_next(mut self, next: impl Into<String>) -> Self {
        self.body.next = Some(next.into());
        self
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, what)
    }

    pub(crate) fn bad_request(what: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, what)
    }

    /// The kill switch is closed: `switch` closed it, `how_to_open` opens it.
    pub(crate) fn gate_closed(switch: String, how_to_open: String) -> Self {
        let mut error = Self::new(
            StatusCode::CONFLICT,
            format!("the kill switch is closed by {switch}: live execution is refused"),
        )
        .with_next(how_to_open);
        error.body.switch = Some(switch);
        error
    }

    /// A store error while serving a read.
    pub(crate) fn store(error: AdapterError, what: &str) -> Self {
        match error {
            AdapterError::GateClosed {
                switch,
                how_to_open,
            } => Self::gate_closed(switch, how_to_open),
            other => Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what}: {other}"))
                .with_next("check the store, then retry"),
        }
    }

    /// The status this error answers with.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"iu-cutter\""),
            );
        }
        response
    }
}

/// The run a request's path (or query) names, refused (400) unless the command line could name
/// it ([`RunId::check`]): no such run can be in the journal, and an id PostgreSQL cannot even
/// compare (a NUL) would otherwise fail in the store, a 503 for what is the request's mistake.
pub(crate) fn path_run(id: String) -> Result<RunId, ApiError> {
    RunId::check(&id).map_err(ApiError::bad_request)?;
    Ok(RunId::new(id))
}

/// The document a request's path names, refused (400) unless a store may hold it
/// ([`DocumentId::check`]), as [`path_run`] refuses a run.
pub(crate) fn path_document(id: String) -> Result<DocumentId, ApiError> {
    DocumentId::check(&id).map_err(ApiError::bad_request)?;
    Ok(DocumentId::new(id))
}
