//! `iu-cutter control`: the database's shared control row, which closes execution for every
//! runner on the database. Setting it is deliberately not behind the kill switch it operates.

use clap::Subcommand;
use iu_cutter_live_execution::sql::{self, ControlState};

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::store::connect_error;

/// The subcommands of `iu-cutter control`.
#[derive(Debug, Subcommand)]
pub(crate) enum ControlCommand {
    /// Show the control row.
    #[command(after_help = "Example:\n  iu-cutter control status")]
    Status,
    /// Stop closing execution from the control row (it never opens execution on its own).
    #[command(after_help = "Example:\n  iu-cutter control enable --reason \"audit done\"")]
    Enable {
        /// Why (recorded in the row).
        #[arg(long)]
        reason: String,
    },
    /// Close execution for every runner on this database.
    #[command(after_help = "Example:\n  iu-cutter control disable --reason \"freeze\"")]
    Disable {
        /// Why (recorded in the row).
        #[arg(long)]
        reason: String,
    },
}

/// `iu-cutter control SUBCOMMAND`.
pub(crate) async fn control(config: &Config, command: ControlCommand) -> Result<(), CliError> {
    match command {
        ControlCommand::Status => status(config).await,
        ControlCommand::Enable { reason } => set(config, true, &reason).await,
        ControlCommand::Disable { reason } => set(config, false, &reason).await,
    }
}

fn print_state(config: &Config, state: &ControlState) {
    out!(
        "control row on {}: execution {} (since {}: {})",
        config.location(),
        if state.execution_enabled {
            "not closed by the control row"
        } else {
            "CLOSED for every runner"
        },
        state.updated_at,
        state.reason
    );
}

/// `iu-cutter control status`.
async fn status(config: &Config) -> Result<(), CliError> {
    let options = config.connect_options();
    let state = sql::control_status(&options)
        .await
        .map_err(|e| connect_error(config, e, "iu-cutter control status"))?;
    print_state(config, &state);
    Ok(())
}

/// `iu-cutter control enable|disable --reason R`.
async fn set(config: &Config, enabled: bool, reason: &str) -> Result<(), CliError> {
    let options = config.connect_options();
    let retry = if enabled {
        "iu-cutter control enable --reason …"
    } else {
        "iu-cutter control disable --reason …"
    };
    let state = sql::set_control(&options, enabled, reason)
        .await
        .map_err(|e| connect_error(config, e, retry))?;
    print_state(config, &state);
    Ok(())
}
