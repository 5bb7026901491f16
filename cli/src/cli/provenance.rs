//! Who runs the program, where, and with what: the report's provenance and the lease holder.
//!
//! The audit identity is read from the system, not from the environment: `USER` is whatever the
//! caller's shell exported (unset under cron, systemd or `env -i`, which made reports and leases
//! say `unknown@vm`), while the process's real uid is who actually runs it. With it goes the
//! database's `current_user`, the role the store was changed as.

use iu_cutter_orchestrator::Provenance;

use crate::cli::config::Config;
use crate::cli::version::COMMIT;

/// Who runs this invocation: the operating-system user and the database role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The real uid's name (`uid N` when it has none, `unknown` off Linux).
    pub(crate) os_user: String,
    /// The database role (`current_user`); `None` on SQLite.
    pub(crate) database_user: Option<String>,
}

impl Identity {
    /// The operating-system user, and `database_user` as the store reported it.
    pub(crate) fn new(database_user: Option<String>) -> Self {
        Identity {
            os_user: os_user(),
            database_user,
        }
    }

    /// A lease holder for this invocation: `user[/role]@host:pid:nonce`, a random 64-bit nonce
    /// so that two invocations of one process differ.
    pub(crate) fn lease_holder(&self) -> String {
        let role = self
            .database_user
            .as_deref()
            .map(|role| format!("/{role}"))
            .unwrap_or_default();
        iu_cutter_orchestrator::holder_named(&format!("{}{role}", self.os_user), &host())
    }
}

/// The first non-empty value among `candidates`, trimmed.
fn first_set(candidates: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    candidates
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// The real uid from the text of `/proc/self/status` (`Uid:\treal\teffective\tsaved\tfs`).
fn real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// The name of `uid` in the text of `/etc/passwd` (`name:x:uid:gid:…`).
fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

/// The operating-system user of the process's real uid: its name from `/etc/passwd`, `uid N`
/// when it has none there (a directory service), or `unknown` where `/proc` is missing.
pub(crate) fn os_user() -> String {
    let Some(uid) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .as_deref()
        .and_then(real_uid)
    else {
        return "unknown".to_owned();
    };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| user_name(&passwd, uid))
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The host: the kernel's host name, else `HOSTNAME`, else the first line of `/etc/hostname`,
/// else `unknown`.
pub(crate) fn host() -> String {
    first_set([
        std::fs::read_to_string("/proc/sys/kernel/hostname").ok(),
        std::env::var("HOSTNAME").ok(),
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned)),
    ])
    .unwrap_or_else(|| "unknown".to_owned())
}

/// The provenance of an invocation under `config` by `identity`.
pub(crate) fn provenance(config: &Config, identity: &Identity) -> Provenance {
    Provenance {
        user: identity.os_user.clone(),
        database_user: identity.database_user.clone(),
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
    fn the_user_is_the_real_uids_name() {
        let status = "Name:\tiu-cutter\nUid:\t1001\t0\t0\t0\nGid:\t100\t100\t100\t100\n";
        assert_eq!(real_uid(status), Some(1001));
        let passwd = "root:x:0:0:root:/root:/bin/bash\nada:x:1001:100::/home/ada:/bin/sh\n";
        assert_eq!(user_name(passwd, 1001).as_deref(), Some("ada"));
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 7), None);
        assert_eq!(real_uid("Name:\tx\n"), None);
    }

    #[test]
    fn provenance_names_the_user_the_role_the_build_and_the_configuration() {
        let config = Config::default();
        let identity = Identity::new(Some("iu_runtime".into()));
        let p = provenance(&config, &identity);
        assert_eq!(p.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(p.commit, COMMIT);
        assert_eq!(p.config_sha256, config.sha256());
        assert_eq!(p.database_user.as_deref(), Some("iu_runtime"));
        assert!(!p.user.is_empty() && p.user != "unknown", "{}", p.user);
        assert!(!p.host.is_empty());
        let holder = identity.lease_holder();
        assert!(
            holder.starts_with(&format!("{}/iu_runtime@", identity.os_user)),
            "{holder}"
        );
    }
}
