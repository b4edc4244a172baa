//! The connection file Jupyter hands the kernel: ports, transport and signing key.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use jupyter_protocol::ConnectionInfo;

/// Why the connection file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("cannot read the connection file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the connection file {path} is not valid: {source}")]
    Invalid {
        path: String,
        source: serde_json::Error,
    },
    #[error("the connection file asks for transport {0}; sshpty serves tcp only")]
    Transport(String),
    #[error("the connection file asks for signature scheme {0}; sshpty supports hmac-sha256")]
    Scheme(String),
}

pub fn read(path: &Path) -> Result<ConnectionInfo, ConnectionError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| ConnectionError::Read {
        path: shown.clone(),
        source,
    })?;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            // The key in it lets anyone who reads it run commands as this user.
            log::warn!(
                "the connection file {shown} is readable by other users (mode {:o}); its key lets them run commands through this kernel. Run `chmod 600 {shown}`",
                mode & 0o777
            );
        }
    }
    let info: ConnectionInfo =
        serde_json::from_slice(&text).map_err(|source| ConnectionError::Invalid {
            path: shown.clone(),
            source,
        })?;
    let transport = serde_json::to_value(&info.transport)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if transport != "tcp" {
        return Err(ConnectionError::Transport(transport));
    }
    if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
        return Err(ConnectionError::Scheme(info.signature_scheme.clone()));
    }
    Ok(info)
}
