//! Claims about ssh2-config 0.9.0: lines under `Match` are applied to the wrong host, Fedora's
//! `Match final all` is refused in strict mode, only one CertificateFile is kept, and `%h` is
//! left unexpanded.
//!
//! Each case is a small config file given to ssh2-config and, where OpenSSH is installed, to
//! `ssh -G -F FILE HOST` (which prints the options OpenSSH resolves, without connecting).
//! The verdicts rest on ssh2-config's answers and on ssh_config(5); `ssh -G` is shown as the
//! reference.

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use ssh2_config::{HostParams, ParseRule, SshConfig};
use sshpty_evidence::{Report, Scratch, openssh};

fn main() -> ExitCode {
    let scratch = match Scratch::new("ssh-config") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ssh_config: scratch directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reports = [
        match_block,
        match_final_strict,
        certificate_files,
        percent_h,
    ];
    for case in reports {
        match case(&scratch) {
            Ok(report) => report.print(),
            Err(e) => {
                eprintln!("ssh_config: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn parse(path: &Path, rules: ParseRule) -> Result<SshConfig, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    SshConfig::default()
        .parse(&mut BufReader::new(file), rules)
        .map_err(|e| e.to_string())
}

/// The values of `keys` in `ssh -G -F path host`, one `key value` per line, or a note that
/// OpenSSH is not there.
fn ssh_g(path: &Path, host: &str, keys: &[&str]) -> String {
    let path = path.to_string_lossy();
    match openssh("ssh", &["-G", "-F", &path, host]) {
        Some(out) => {
            let lines: Vec<&str> = out
                .lines()
                .filter(|l| keys.iter().any(|k| l.split(' ').next() == Some(*k)))
                .collect();
            format!("OpenSSH `ssh -G {host}`: {}", lines.join(", "))
        }
        None => "OpenSSH `ssh -G` not available here: reference not shown".to_owned(),
    }
}

fn port_user(p: &HostParams) -> String {
    format!("port {:?}, user {:?}", p.port, p.user)
}

const MATCH_BLOCK: &str = "\
Host web1
    HostName web1.example
Match host db1
    Port 2222
    User dbadmin
";

fn match_block(scratch: &Scratch) -> Result<Report, String> {
    let path = scratch
        .file("match_block", MATCH_BLOCK)
        .map_err(|e| e.to_string())?;
    // STRICT refuses `Match` outright (next case); the lenient mode is what a caller uses.
    let config = parse(&path, ParseRule::ALLOW_UNKNOWN_FIELDS)?;
    let web1 = config.query("web1");
    let db1 = config.query("db1");
    Ok(Report {
        title: "ssh2-config 0.9.0: options under `Match` are applied to the wrong host".into(),
        done: format!(
            "parsed {:?} with ParseRule::ALLOW_UNKNOWN_FIELDS, queried web1 and db1",
            MATCH_BLOCK
        ),
        observed: vec![
            format!("ssh2-config web1: {}", port_user(&web1)),
            format!("ssh2-config db1:  {}", port_user(&db1)),
            ssh_g(&path, "web1", &["port", "user"]),
            ssh_g(&path, "db1", &["port", "user"]),
        ],
        // The `Match host db1` options landed on web1 (the preceding Host block).
        confirmed: web1.port == Some(2222) && db1.port != Some(2222),
    })
}

/// Fedora's /etc/ssh/ssh_config.d/50-redhat.conf, in part.
const FEDORA: &str = "\
# The options here are in the \"Match final block\" to be applied as the last
# options and could be potentially overwritten by the user configuration
Match final all
\t# Follow system-wide Crypto Policy, if defined:
\tInclude /etc/crypto-policies/back-ends/openssh.config

\tGSSAPIAuthentication yes
\tForwardX11Trusted yes
\tSendEnv LANG LC_CTYPE LC_NUMERIC LC_TIME LC_COLLATE LC_MONETARY LC_MESSAGES
";

fn match_final_strict(scratch: &Scratch) -> Result<Report, String> {
    let fedora = scratch.file("fedora", FEDORA).map_err(|e| e.to_string())?;
    // The same lines under `Host *`: shows that `Match` is what is refused.
    let as_host = scratch
        .file("fedora_host", &FEDORA.replace("Match final all", "Host *"))
        .map_err(|e| e.to_string())?;
    let strict = parse(&fedora, ParseRule::STRICT);
    let strict_host = parse(&as_host, ParseRule::STRICT);
    let openssh_ok = openssh("ssh", &["-G", "-F", &fedora.to_string_lossy(), "web1"]);
    Ok(Report {
        title: "ssh2-config 0.9.0: Fedora's `Match final all` is refused in strict mode".into(),
        done: "parsed Fedora's 50-redhat.conf (its `Match final all` block) with \
               ParseRule::STRICT; then the same file with `Match final all` replaced by `Host *`"
            .into(),
        observed: vec![
            format!(
                "STRICT, `Match final all`: {}",
                match &strict {
                    Ok(_) => "parsed".to_owned(),
                    Err(e) => format!("error: {e}"),
                }
            ),
            format!(
                "STRICT, `Host *` instead:  {}",
                match &strict_host {
                    Ok(_) => "parsed".to_owned(),
                    Err(e) => format!("error: {e}"),
                }
            ),
            match openssh_ok {
                Some(_) => "OpenSSH `ssh -G -F FILE web1` reads the file (exit 0)".to_owned(),
                None => "OpenSSH `ssh -G` not available or refused the file".to_owned(),
            },
        ],
        confirmed: strict.is_err() && strict_host.is_ok(),
    })
}

const CERTIFICATES: &str = "\
Host web1
    CertificateFile /keys/a-cert.pub
    CertificateFile /keys/b-cert.pub
Host *
    CertificateFile /keys/c-cert.pub
";

fn certificate_files(scratch: &Scratch) -> Result<Report, String> {
    let path = scratch
        .file("certificates", CERTIFICATES)
        .map_err(|e| e.to_string())?;
    let config = parse(&path, ParseRule::STRICT)?;
    let web1 = config.query("web1");
    Ok(Report {
        title: "ssh2-config 0.9.0: only one CertificateFile is kept (OpenSSH keeps all)".into(),
        done: format!("parsed {CERTIFICATES:?} with ParseRule::STRICT, queried web1"),
        observed: vec![
            format!(
                "ssh2-config web1: certificate_file = {:?} (the field is an Option<PathBuf>)",
                web1.certificate_file
            ),
            ssh_g(&path, "web1", &["certificatefile"]),
        ],
        // Three files were given; ssh2-config's type holds at most one.
        confirmed: web1.certificate_file.is_some(),
    })
}

const PERCENT_H: &str = "\
Host web1
    HostName web1.example
    IdentityFile /keys/%h.key
    ControlPath /tmp/cm-%h
";

fn percent_h(scratch: &Scratch) -> Result<Report, String> {
    let path = scratch
        .file("percent_h", PERCENT_H)
        .map_err(|e| e.to_string())?;
    // ALLOW_UNSUPPORTED_FIELDS keeps ControlPath (which 0.9.0 does not interpret) as text.
    let config = parse(&path, ParseRule::ALLOW_UNSUPPORTED_FIELDS)?;
    let web1 = config.query("web1");
    let control_path = web1
        .unsupported_fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("controlpath"))
        .map(|(_, v)| v.clone());
    let unexpanded = web1
        .identity_file
        .iter()
        .flatten()
        .any(|p| p.to_string_lossy().contains("%h"));
    Ok(Report {
        title: "ssh2-config 0.9.0: `%h` is left unexpanded (IdentityFile, ControlPath)".into(),
        done: format!(
            "parsed {PERCENT_H:?} with ParseRule::ALLOW_UNSUPPORTED_FIELDS, queried web1"
        ),
        observed: vec![
            format!(
                "ssh2-config web1: identity_file = {:?}, ControlPath kept as {:?}",
                web1.identity_file, control_path
            ),
            ssh_g(&path, "web1", &["controlpath", "identityfile"]),
            "(ssh -G prints IdentityFile before expansion; ssh_config(5), TOKENS: IdentityFile \
             accepts %h, expanded to the remote host name when the key is loaded)"
                .to_owned(),
        ],
        confirmed: unexpanded,
    })
}
