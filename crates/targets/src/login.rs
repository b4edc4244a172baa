//! Where a login goes: this machine, or a server over SSH.

use crate::ssh::config::LoginRequest;

/// The login target meaning this machine.
pub const LOCAL: &str = "local";

/// Where `%login` (or a kernelspec's `--login`) logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginTarget {
    /// This machine (`local`).
    Local,
    /// A server over SSH, resolved through the SSH configuration as ssh does.
    Ssh(LoginRequest),
}

impl LoginTarget {
    /// The host's name in this kernel: `local`, `web1`, `ops@web1`.
    pub fn name(&self) -> String {
        match self {
            LoginTarget::Local => LOCAL.to_owned(),
            LoginTarget::Ssh(r) => match &r.user {
                Some(u) => format!("{u}@{}", r.host),
                None => r.host.clone(),
            },
        }
    }
}
