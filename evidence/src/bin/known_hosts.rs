//! Claims about russh 0.65's known_hosts support (`russh::keys::check_known_hosts_path`):
//! no wildcard host patterns (`*.example.com`), and a `@revoked` key is never refused.
//!
//! Each case is a small known_hosts file given to russh and, where OpenSSH is installed, to
//! `ssh-keygen -F HOST -f FILE` (OpenSSH's own lookup, which marks revoked keys). The
//! verdicts rest on russh's answers and on sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT".

use std::process::ExitCode;

use russh::keys::{check_known_hosts_path, parse_public_key_base64};
use sshpty_evidence::{Report, Scratch, openssh};

/// An ed25519 host key (russh's own test key).
const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";

fn main() -> ExitCode {
    let scratch = match Scratch::new("known-hosts") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("known_hosts: scratch directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    for case in [wildcard, revoked] {
        match case(&scratch) {
            Ok(report) => report.print(),
            Err(e) => {
                eprintln!("known_hosts: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// russh's answer, as the caller sees it.
fn russh_says(result: &Result<bool, russh::keys::Error>) -> String {
    match result {
        Ok(true) => "Ok(true): known, accepted".to_owned(),
        Ok(false) => "Ok(false): unknown host (the caller would ask, or accept-new)".to_owned(),
        Err(e) => format!("Err: {e}"),
    }
}

/// OpenSSH's lookup of `host` in `file`: the `# Host … found: line N [REVOKED]` lines.
fn ssh_keygen_f(host: &str, file: &std::path::Path) -> String {
    match openssh("ssh-keygen", &["-F", host, "-f", &file.to_string_lossy()]) {
        Some(out) => {
            let found: Vec<&str> = out
                .lines()
                .filter(|l| l.starts_with("# Host"))
                .map(|l| l.trim_start_matches("# ").trim_end())
                .collect();
            format!("OpenSSH `ssh-keygen -F {host}`: {}", found.join("; "))
        }
        None => format!("OpenSSH `ssh-keygen -F {host}` found nothing or is not installed"),
    }
}

fn wildcard(scratch: &Scratch) -> Result<Report, String> {
    let text = format!("*.example.com ssh-ed25519 {KEY}\n");
    let file = scratch.file("wildcard", &text).map_err(|e| e.to_string())?;
    let key = parse_public_key_base64(KEY).map_err(|e| e.to_string())?;
    let result = check_known_hosts_path("web1.example.com", 22, &key, &file);
    Ok(Report {
        title: "russh 0.65: known_hosts has no wildcard host patterns (`*.example.com`)".into(),
        done: format!(
            "known_hosts {:?}; check_known_hosts_path(\"web1.example.com\", 22, KEY) \
             (KEY: russh's ed25519 test key)",
            text.replace(KEY, "KEY")
        ),
        observed: vec![
            format!("russh: {}", russh_says(&result)),
            ssh_keygen_f("web1.example.com", &file),
        ],
        confirmed: matches!(result, Ok(false)),
    })
}

fn revoked(scratch: &Scratch) -> Result<Report, String> {
    let key = parse_public_key_base64(KEY).map_err(|e| e.to_string())?;
    let both = format!(
        "@revoked web1.example.com ssh-ed25519 {KEY}\nweb1.example.com ssh-ed25519 {KEY}\n"
    );
    let only = format!("@revoked web1.example.com ssh-ed25519 {KEY}\n");
    let both_file = scratch
        .file("revoked_both", &both)
        .map_err(|e| e.to_string())?;
    let only_file = scratch
        .file("revoked_only", &only)
        .map_err(|e| e.to_string())?;
    let with_entry = check_known_hosts_path("web1.example.com", 22, &key, &both_file);
    let alone = check_known_hosts_path("web1.example.com", 22, &key, &only_file);
    // Refused would be an Err naming the revocation; anything else lets the key through.
    Ok(Report {
        title: "russh 0.65: known_hosts never refuses a `@revoked` key".into(),
        done: format!(
            "check_known_hosts_path(\"web1.example.com\", 22, KEY) on known_hosts {:?} and \
             on {:?}",
            both.replace(KEY, "KEY"),
            only.replace(KEY, "KEY")
        ),
        observed: vec![
            format!(
                "russh, revoked + ordinary entry: {}",
                russh_says(&with_entry)
            ),
            format!("russh, revoked line alone:       {}", russh_says(&alone)),
            ssh_keygen_f("web1.example.com", &both_file),
        ],
        confirmed: matches!(with_entry, Ok(true)) && matches!(alone, Ok(false)),
    })
}
