//! `iu-cutter serve`: the runner behind an HTTP API and an operator page (`iu-cutter-serve`),
//! on the live store behind the configured kill switch, as `run --mode live`, `enact` and
//! `rollback` use it. SIGINT or SIGTERM stops it: runs in flight stop at a safe point first.

use std::sync::Arc;
use std::time::Duration;

use iu_cutter_phase_core::DirBackupStore;
use iu_cutter_serve::{Backend, ServeConfig};

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::runner::run_options;
use crate::cli::store::LiveStore;

/// `iu-cutter serve [--execute]`.
pub(crate) async fn serve(config: &Config, execute: bool) -> Result<(), CliError> {
    let retry = "iu-cutter serve";
    let store = LiveStore::open(config, execute, retry).await?;
    let gate = store.gate();
    let identity = store.identity();
    let serve = ServeConfig {
        bind: config.serve.bind,
        token: config.serve.token(),
    };
    if serve.token.is_none() {
        eprintln!(
            "note: no token configured ([serve] token_env, default IU_CUTTER_SERVE_TOKEN): the \
             server serves reads only"
        );
    }
    let backend = Backend {
        store: store.into_adapter(),
        backups: Arc::new(DirBackupStore::new(config.backup_dir.clone())),
        gate,
        rules: config.rules.clone(),
        // Quiet: the server reports progress as events, not on stderr.
        options: run_options(config, None, true, &identity),
    };
    eprintln!(
        "iu-cutter serve: http://{}/ on {} (SIGINT or SIGTERM stops it)",
        serve.bind,
        config.location()
    );
    iu_cutter_serve::serve(serve, backend, interrupted())
        .await
        .map_err(|error| {
            CliError::bad_input(
                error.to_string(),
                "choose a free address in [serve] bind, e.g. bind = \"127.0.0.1:8081\"",
            )
        })
}

/// Resolves once SIGINT or SIGTERM arrived (the program's handler records it).
async fn interrupted() {
    while !crate::cli::interrupt::received() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
