//! Log lines on stderr, from tracing-subscriber: text (the default) or JSON, one object per line
//! (`--log-format json` or `IU_CUTTER_LOG_FORMAT=json`). A line logged inside a run carries the
//! run id, and inside a phase the phase, from the runner's `run` and `phase` spans: the text
//! format prints them as `run{run=…}:phase{phase=…}:`, the JSON format as the `span` and `spans`
//! fields. `RUST_LOG` sets the level (default `warn`).
//!
//! Colour: text lines colour their level only on a terminal, and never when `NO_COLOR` is set
//! to anything but the empty string (<https://no-color.org>). Nothing else the program prints
//! has colour: progress bars are drawn without it, help and reports are plain text.

use std::io::IsTerminal as _;

use crate::cli::config::ENV_LOG_FORMAT;
use crate::cli::error::CliError;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the current span's fields (run, phase) and the span list.
    Json,
}

impl LogFormat {
    /// `flag` (`--log-format`) when given, else `variable` (`IU_CUTTER_LOG_FORMAT`), else text.
    pub(crate) fn choose(
        flag: Option<LogFormat>,
        variable: Option<&str>,
    ) -> Result<Self, CliError> {
        if let Some(format) = flag {
            return Ok(format);
        }
        match variable.map(str::trim) {
            None | Some("") => Ok(LogFormat::Text),
            Some(text) if text.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
            Some(text) if text.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
            Some(other) => Err(CliError::config(
                format!("{ENV_LOG_FORMAT} = `{other}`: expected `text` or `json`"),
                format!("set {ENV_LOG_FORMAT} to text or json, or unset it"),
            )),
        }
    }
}

/// Whether text output may carry colour: on a terminal, unless `NO_COLOR` is set and not empty.
pub(crate) fn colour_allowed(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Installs the subscriber for `format`.
pub(crate) fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(colour_allowed(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            ))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn no_color_turns_colour_off_and_only_a_terminal_gets_it() {
        assert!(colour_allowed(true, None));
        assert!(colour_allowed(true, Some(OsStr::new(""))));
        assert!(!colour_allowed(true, Some(OsStr::new("1"))));
        assert!(!colour_allowed(false, None));
    }

    #[test]
    fn the_flag_wins_over_the_variable() -> Result<(), CliError> {
        assert_eq!(LogFormat::choose(None, None)?, LogFormat::Text);
        assert_eq!(LogFormat::choose(None, Some("JSON"))?, LogFormat::Json);
        assert_eq!(
            LogFormat::choose(Some(LogFormat::Text), Some("json"))?,
            LogFormat::Text
        );
        let error = LogFormat::choose(None, Some("yaml"));
        assert!(matches!(&error, Err(e) if e.exit_code() == 6), "{error:?}");
        Ok(())
    }
}
