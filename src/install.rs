//! `sshpty install`: writes a kernelspec where Jupyter looks for one.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    User,
    SysPrefix,
    Prefix(PathBuf),
}

#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub location: Location,
    pub name: String,
    pub display_name: String,
    pub login: Option<String>,
    pub header: bool,
    pub sudo_cache: bool,
    /// false: `--no-local` (see the engine's `magics::local`).
    pub local: bool,
    /// `--secret-command PREFIX`, each as given (checked by the engine's `AllowedCommands`).
    pub secret_commands: Vec<String>,
}

impl Default for InstallOptions {
    fn default() -> Self {
        InstallOptions {
            location: Location::User,
            name: "sshpty".into(),
            display_name: "SSH (sshpty)".into(),
            login: None,
            header: true,
            sudo_cache: true,
            local: true,
            secret_commands: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("kernel name {0:?} may use only letters, digits, '.', '_' and '-'")]
    BadName(String),
    #[error("cannot find this program's own path: {0}")]
    SelfPath(std::io::Error),
    #[error(
        "--sys-prefix needs a `jupyter` on PATH; none was found (activate the environment that has Jupyter, or use --prefix DIR)"
    )]
    NoJupyter,
    #[error("cannot find the user's home directory (HOME is not set)")]
    NoHome,
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Jupyter's user data directory, as jupyter_core computes it on Linux.
fn user_data_dir() -> Result<PathBuf, InstallError> {
    if let Some(d) = std::env::var_os("JUPYTER_DATA_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("jupyter"));
    }
    let home = std::env::var_os("HOME").ok_or(InstallError::NoHome)?;
    Ok(PathBuf::from(home).join(".local/share/jupyter"))
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// The prefix of the `jupyter` found on PATH: the `sys.prefix` of the Python named in
/// its `#!` line, or else the directory above its `bin/`.
pub fn jupyter_prefix() -> Result<PathBuf, InstallError> {
    let jupyter = find_on_path("jupyter").ok_or(InstallError::NoJupyter)?;
    let python = std::fs::read_to_string(&jupyter).ok().and_then(|s| {
        let first = s.lines().next()?.strip_prefix("#!")?.trim().to_owned();
        first.split_whitespace().next().map(PathBuf::from)
    });
    if let Some(python) = python
        && let Ok(out) = std::process::Command::new(&python)
            .args(["-c", "import sys; print(sys.prefix)"])
            .output()
        && out.status.success()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !p.is_empty() {
            return Ok(PathBuf::from(p));
        }
    }
    let bin = jupyter.parent().ok_or(InstallError::NoJupyter)?;
    Ok(bin.parent().unwrap_or(Path::new("/")).to_path_buf())
}

pub fn kernel_json(binary: &Path, o: &InstallOptions) -> serde_json::Value {
    let mut argv = vec![
        binary.display().to_string(),
        "kernel".into(),
        "--connection-file".into(),
        "{connection_file}".into(),
    ];
    if let Some(t) = &o.login {
        argv.extend(["--login".into(), t.clone()]);
    }
    if !o.header {
        argv.push("--no-header".into());
    }
    if !o.sudo_cache {
        argv.push("--no-sudo-cache".into());
    }
    if !o.local {
        argv.push("--no-local".into());
    }
    for c in &o.secret_commands {
        argv.extend(["--secret-command".into(), c.clone()]);
    }
    serde_json::json!({
        "argv": argv,
        "display_name": o.display_name,
        "language": "bash",
        "interrupt_mode": "message",
        "metadata": { "debugger": false },
    })
}

/// Write the kernelspec; returns its directory.
pub fn install(o: &InstallOptions) -> Result<PathBuf, InstallError> {
    if o.name.is_empty()
        || !o
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(InstallError::BadName(o.name.clone()));
    }
    let data = match &o.location {
        Location::User => user_data_dir()?,
        Location::SysPrefix => jupyter_prefix()?.join("share/jupyter"),
        Location::Prefix(p) => p.join("share/jupyter"),
    };
    let dir = data.join("kernels").join(&o.name);
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(InstallError::SelfPath)?;
    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| InstallError::Write { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    let file = dir.join("kernel.json");
    let text = serde_json::to_string_pretty(&kernel_json(&binary, o)).unwrap_or_default();
    std::fs::write(&file, text + "\n").map_err(write_err(&file))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_json_has_what_jupyter_needs() {
        let o = InstallOptions {
            login: Some("local".into()),
            header: false,
            ..Default::default()
        };
        let j = kernel_json(Path::new("/opt/sshpty"), &o);
        assert_eq!(j["language"], "bash");
        assert_eq!(j["interrupt_mode"], "message");
        assert_eq!(
            j["argv"],
            serde_json::json!([
                "/opt/sshpty",
                "kernel",
                "--connection-file",
                "{connection_file}",
                "--login",
                "local",
                "--no-header"
            ])
        );
    }

    #[test]
    fn prefix_install_writes_where_jupyter_looks() {
        let dir = std::env::temp_dir().join(format!("sshpty-install-{}", std::process::id()));
        let o = InstallOptions {
            location: Location::Prefix(dir.clone()),
            name: "t1".into(),
            ..Default::default()
        };
        let got = install(&o).unwrap();
        assert_eq!(got, dir.join("share/jupyter/kernels/t1"));
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(got.join("kernel.json")).unwrap())
                .unwrap();
        assert_eq!(j["display_name"], "SSH (sshpty)");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_names_are_refused() {
        let o = InstallOptions {
            name: "a/b".into(),
            ..Default::default()
        };
        assert!(matches!(install(&o), Err(InstallError::BadName(_))));
    }
}
