//! How a login asks its questions, and why it fails.

use std::path::PathBuf;
use std::sync::Arc;

use super::config;
use crate::target::BoxFuture;

/// Asks the user a question (through the cell's input_request); None when nobody can
/// answer (allow_stdin false) or the cell was interrupted. The bool asks for a password box.
pub type Ask = Arc<dyn Fn(String, bool) -> BoxFuture<'static, Option<String>> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("cannot connect to {addr}: no answer within ConnectTimeout ({secs} s)")]
    TcpTimeout { addr: String, secs: u64 },
    #[error("cannot connect to {addr}: {source}")]
    Tcp {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {label} through the jump host: {source}")]
    Jump { label: String, source: russh::Error },
    #[error("cannot connect to ProxyCommand {command:?}: {source}")]
    ProxyCommand {
        command: String,
        source: std::io::Error,
    },
    #[error("cannot connect to ProxyCommand {command:?}: no pipes")]
    ProxyPipes { command: String },
    #[error(
        "cannot connect to {label}: no SSH banner/key exchange within ConnectTimeout ({secs} s)"
    )]
    HandshakeTimeout { label: String, secs: u64 },
    #[error("cannot connect to {label}: {source}")]
    Handshake { label: String, source: russh::Error },
    /// The host-key policy refused the server's key; `reason` names the key, the file and
    /// line, and what to do.
    #[error("{reason}")]
    HostKey { reason: String },
    #[error("authentication failed: {label}: {source}")]
    Auth { label: String, source: russh::Error },
    #[error("authentication failed: {label}: wrong passphrase for key {}", path.display())]
    WrongPassphrase { label: String, path: PathBuf },
    #[error(
        "authentication failed: {label}: permission denied for {user} (tried: {}){}{}",
        tried_methods(tried),
        if *batch_mode { "; BatchMode is yes, so no password, keyboard-interactive answer or key passphrase was asked for" } else { "" },
        if *gssapi_offered { "; the server offers GSSAPI (Kerberos), which sshpty does not: use a key (or an SSH certificate) through the agent or IdentityFile, or a password" } else { "" },
    )]
    PermissionDenied {
        label: String,
        user: String,
        tried: Vec<&'static str>,
        batch_mode: bool,
        /// The server listed gssapi-with-mic among the methods that can continue.
        gssapi_offered: bool,
    },
    /// Ciphers, MACs, KexAlgorithms or HostKeyAlgorithms left nothing sshpty has.
    #[error(
        "{directive} {spec}: none of these algorithms is one sshpty has (it has {supported}); ssh refuses such a list too"
    )]
    NoAlgorithms {
        directive: &'static str,
        spec: String,
        supported: String,
    },
    #[error(
        "authentication failed: {label}: the server asks for a password or passphrase and this client cannot answer questions (no stdin); tried {} first. Use a key without passphrase or an agent for unattended runs",
        if tried.is_empty() { "nothing".to_owned() } else { tried.join(", ") }
    )]
    NoStdin {
        label: String,
        tried: Vec<&'static str>,
    },
}

fn tried_methods(tried: &[&str]) -> String {
    if tried.is_empty() {
        "nothing usable".to_owned()
    } else {
        tried.join(", ")
    }
}
