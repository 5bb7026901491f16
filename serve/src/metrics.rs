//! The Prometheus recorder of the `metrics` facade, installed once per process by the server
//! (the runner's metrics and the server's own are rendered on `GET /metrics`).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process's recorder handle: installed by the first server; `None` when the embedder had
/// already installed another recorder (its metrics go there, and `/metrics` says so).
pub(crate) fn install() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .clone()
}
