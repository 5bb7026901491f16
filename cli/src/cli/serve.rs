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
use crate::cli::store::{LiveStore, serve_gate};

/// `iu-cutter serve [--execute]`.
pub(crate) async fn serve(config: &Config, execute: bool) -> Result<(), CliError> {
    let retry = "iu-cutter serve";
    let store = LiveStore::open_behind(config, serve_gate(config, execute), retry).await?;
    // Every invocation the server runs waits for a busy database as the command line's do.
    let back_off = store.back_off(config)?;
    let gate = store.gate();
    let identity = store.identity();
    let serve = ServeConfig {
        bind: config.serve.bind,
        token: config.serve.token(),
    };
    if !serve.bind.ip().is_loopback() {
        // Nothing refuses such a bind; the operator should know what it exposes.
        eprintln!(
            "note: {} is not loopback: anyone who reaches it reads every run and every \
             document's units (reads need no token), and the token travels in clear text (no \
             TLS); keep it on loopback, or put a TLS proxy that authenticates readers in front",
            serve.bind
        );
    }
    if serve.token.is_none() {
        eprintln!(
            "note: no token configured ([serve] token_env, default IU_CUTTER_SERVE_TOKEN): the \
             server serves reads only"
        );
    }
    // Quiet: the server reports progress as events, not on stderr.
    let mut options = run_options(config, None, true, &identity);
    options.back_off = back_off;
    let backend = Backend {
        store: store.into_adapter(),
        backups: Arc::new(DirBackupStore::new(config.backup_dir.clone())),
        gate,
        rules: config.rules.clone(),
        options,
        dry_runs_kept: config.serve.dry_runs_kept,
    };
    let taken = |error: String| {
        CliError::bad_input(
            error,
            "choose a free address in [serve] bind, e.g. bind = \"127.0.0.1:8081\"",
        )
    };
    let listener = iu_cutter_serve::listen(serve.bind)
        .map_err(|source| taken(format!("cannot listen on {}: {source}", serve.bind)))?;
    // The address bound, not the one asked for: port 0 asks for any free port.
    let bound = listener.local_addr().unwrap_or(serve.bind);
    eprintln!(
        "iu-cutter serve: http://{bound}/ on {} (SIGINT or SIGTERM stops it)",
        config.location()
    );
    iu_cutter_serve::serve_on(listener, serve.token, backend, interrupted())
        .await
        .map_err(|error| taken(error.to_string()))
}

/// Resolves once SIGINT or SIGTERM arrived (the program's handler records it).
async fn interrupted() {
    while !crate::cli::interrupt::received() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 409 of a closed switch said "pass --execute", which a request cannot: it says what
    /// the operator does, and that a dry run needs nothing.
    #[tokio::test]
    async fn a_closed_switch_tells_an_api_client_what_the_operator_does()
    -> Result<(), Box<dyn std::error::Error>> {
        let config = Config::default();
        let refusal = serve_gate(&config, false).check().await;
        let Err(iu_cutter_live_execution::AdapterError::GateClosed { how_to_open, .. }) = refusal
        else {
            return Err(format!("the switch is closed by default: {refusal:?}").into());
        };
        assert!(
            how_to_open.contains("iu-cutter serve --execute"),
            "{how_to_open}"
        );
        assert!(how_to_open.contains("mode=simulate"), "{how_to_open}");
        assert!(!how_to_open.contains("pass --execute"), "{how_to_open}");
        assert!(serve_gate(&config, true).check().await.is_ok());
        Ok(())
    }
}
