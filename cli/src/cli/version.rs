//! `iu-cutter version`: what was built, from which commit, and with which defaults.

use serde::Serialize;

use crate::cli::config::EXECUTION_ENABLED_DEFAULT;

/// The live stores compiled into this program: cli/Cargo.toml enables both features of
/// iu-cutter-live-execution unconditionally.
pub(crate) const LIVE_WIRING: &str = "sqlite,postgres";

/// The full sha of the commit built from (build.rs), or `unknown`.
pub(crate) const COMMIT: &str = env!("IU_CUTTER_COMMIT");

#[derive(Serialize)]
struct Version {
    version: &'static str,
    commit: &'static str,
    execution_enabled_default: bool,
    live_wiring: &'static str,
}

const VERSION: Version = Version {
    version: env!("CARGO_PKG_VERSION"),
    commit: COMMIT,
    execution_enabled_default: EXECUTION_ENABLED_DEFAULT,
    live_wiring: LIVE_WIRING,
};

/// `iu-cutter version [--json]`.
pub(crate) fn version(json: bool) {
    if json {
        out!("{}", serde_json::to_string(&VERSION).unwrap_or_default());
    } else {
        out!(
            "iu-cutter {} (commit {}; execution_enabled default {}; live stores: {})",
            VERSION.version,
            VERSION.commit,
            VERSION.execution_enabled_default,
            VERSION.live_wiring
        );
    }
}
