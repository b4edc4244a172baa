//! The connection file Jupyter hands the kernel: ports, transport and signing key.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use jupyter_protocol::ConnectionInfo;

use crate::zmtp::Endpoint;

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
    #[error("the connection file asks for transport {0}; sshpty serves tcp and ipc")]
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
    let transport = transport(&info);
    if Endpoint::from_connection(&transport, &info.ip, 0).is_none() {
        return Err(ConnectionError::Transport(transport));
    }
    if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
        return Err(ConnectionError::Scheme(info.signature_scheme.clone()));
    }
    Ok(info)
}

/// The connection file's transport, as written there (`tcp`, `ipc`).
fn transport(info: &ConnectionInfo) -> String {
    serde_json::to_value(&info.transport)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Where the socket of `port` (one of `info`'s) listens: `ip:port` over TCP, or the Unix
/// socket `{ip}-{port}` for `ipc` (jupyter_client's naming).
pub fn endpoint(info: &ConnectionInfo, port: u16) -> Endpoint {
    Endpoint::from_connection(&transport(info), &info.ip, port).unwrap_or(Endpoint::Tcp {
        ip: info.ip.clone(),
        port,
    })
}
