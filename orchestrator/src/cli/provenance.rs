//! Who runs the program, where, and with what: the report's provenance.

use iu_cutter_orchestrator::Provenance;

use crate::cli::config::Config;
use crate::cli::version::COMMIT;

/// The first non-empty value among `candidates`, trimmed.
fn first_set(candidates: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    candidates
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// The operating-system user: `USER`, else `USERNAME`, else `LOGNAME`, else `unknown`.
pub(crate) fn user() -> String {
    first_set(
        ["USER", "USERNAME", "LOGNAME"]
            .into_iter()
            .map(|k| std::env::var(k).ok()),
    )
    .unwrap_or_else(|| "unknown".to_owned())
}

/// The host: `HOSTNAME`, else the first line of `/etc/hostname`, else `unknown`.
pub(crate) fn host() -> String {
    first_set([
        std::env::var("HOSTNAME").ok(),
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned)),
    ])
    .unwrap_or_else(|| "unknown".to_owned())
}

/// The provenance of an invocation under `config`.
pub(crate) fn provenance(config: &Config) -> Provenance {
    Provenance {
        user: user(),
        host: host(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: COMMIT.to_owned(),
        config_sha256: config.sha256(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_empty_value_wins() {
        assert_eq!(
            first_set([
                None,
                Some("  ".into()),
                Some(" ada \n".into()),
                Some("b".into())
            ]),
            Some("ada".into())
        );
        assert_eq!(first_set([None, Some(String::new())]), None);
    }

    #[test]
    fn provenance_names_the_build_and_the_configuration() {
        let config = Config::default();
        let p = provenance(&config);
        assert_eq!(p.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(p.commit, COMMIT);
        assert_eq!(p.config_sha256, config.sha256());
        assert!(!p.user.is_empty() && !p.host.is_empty());
    }
}
