//! The connection file Jupyter hands the kernel: ports, transport and signing key.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use jupyter_protocol::ConnectionInfo;

use super::KernelError;

pub fn read(path: &Path) -> Result<ConnectionInfo, KernelError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|source| KernelError::ConnectionFile {
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
        serde_json::from_slice(&text).map_err(|source| KernelError::BadConnectionFile {
            path: shown.clone(),
            source,
        })?;
    let transport = serde_json::to_value(&info.transport)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if transport != "tcp" {
        return Err(KernelError::Transport(transport));
    }
    if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
        return Err(KernelError::Scheme(info.signature_scheme.clone()));
    }
    Ok(info)
}
