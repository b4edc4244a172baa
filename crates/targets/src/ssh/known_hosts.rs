//! The pure part of the host-key policy: reading known_hosts files as ssh does (sshd(8),
//! "SSH_KNOWN_HOSTS FILE FORMAT"; OpenSSH's hostfile.c), fingerprints as `ssh-keygen -l`
//! shows them, and the line to append. File contents are passed in; no I/O here.
//!
//! Why not russh's own known_hosts reader (`russh::keys::check_known_hosts_path`, 0.65,
//! measured by `evidence/run`): it matches no wildcard pattern (`*.example.com`), and it
//! skips `@revoked` lines, so a revoked key is accepted, or unknown and then accepted by
//! `accept-new`.
//!
//! Where we differ from ssh, on purpose:
//! - `@revoked` revokes its key whatever host patterns the line has (ssh only looks at the
//!   lines whose patterns match the host): a revoked key is never to be accepted.
//! - For a changed key we name the first line of the host with a key of the same algorithm,
//!   else its first line with any other key (ssh names the last one it read, which may be in
//!   /etc/ssh/ssh_known_hosts where the user can do nothing about it).

use std::path::PathBuf;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD,
};
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::certificate::CertType;
use russh::keys::ssh_key::{Certificate, HashAlg};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::config::match_pattern_list;

/// A public key in SSH wire form (RFC 4253 section 6.6), e.g. as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// The key type, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`.
    pub algorithm: String,
    pub blob: Vec<u8>,
}

impl HostKey {
    /// A key from its wire form, its algorithm read from the blob's leading string.
    pub fn from_blob(blob: Vec<u8>) -> Option<HostKey> {
        let algorithm = blob_type(&blob)?.to_string();
        Some(HostKey { algorithm, blob })
    }
}

/// `SHA256:<base64 without padding>` of the blob, as `ssh-keygen -l` and ssh's prompts show.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// What the known_hosts files say about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This key is listed for the host.
    Known { file: PathBuf, line: usize },
    /// The host is listed with another key and never with this one: refuse (a possible
    /// man-in-the-middle). `line` is the host's first line with a key of the same algorithm,
    /// else its first line with a key of another algorithm (ssh counts both as changed).
    Changed { file: PathBuf, line: usize },
    /// An `@revoked` line lists this key: refuse, whatever else is listed.
    Revoked { file: PathBuf, line: usize },
    /// The host is not listed: StrictHostKeyChecking decides.
    Unknown,
}

/// Checks `key` for `host:port` against `files`: (path, contents), the user files first, then
/// the global ones, as ssh reads them (sshconnect.c `check_host_key`). `@cert-authority` lines
/// play no part here: see [`cert_authorities`].
pub fn check(files: &[(PathBuf, String)], host: &str, port: u16, key: &HostKey) -> Verdict {
    let name = lookup_name(host, port);
    let key_type = blob_type(&key.blob).unwrap_or(&key.algorithm);
    let mut known = None;
    let mut same_type_changed = None;
    let mut other_type_changed = None;
    for (path, text) in files {
        for entry in entries(text) {
            match entry.marker {
                Marker::Revoked if entry.key.blob == key.blob => {
                    return Verdict::Revoked {
                        file: path.clone(),
                        line: entry.line,
                    };
                }
                Marker::Revoked | Marker::CertAuthority => {}
                Marker::None => {
                    if !hosts_match(entry.hosts, &name) {
                        continue;
                    }
                    let at = (path.clone(), entry.line);
                    if entry.key.blob == key.blob {
                        known.get_or_insert(at);
                    } else if entry.key.algorithm == key_type {
                        same_type_changed.get_or_insert(at);
                    } else {
                        other_type_changed.get_or_insert(at);
                    }
                }
            }
        }
    }
    if let Some((file, line)) = known {
        Verdict::Known { file, line }
    } else if let Some((file, line)) = same_type_changed.or(other_type_changed) {
        Verdict::Changed { file, line }
    } else {
        Verdict::Unknown
    }
}

/// The keys of `@cert-authority` lines whose patterns cover `host:port`, to verify a host
/// certificate's signer with; CAs that an `@revoked` line lists are left out.
pub fn cert_authorities(files: &[(PathBuf, String)], host: &str, port: u16) -> Vec<HostKey> {
    let name = lookup_name(host, port);
    let revoked: Vec<Vec<u8>> = files
        .iter()
        .flat_map(|(_, text)| entries(text))
        .filter(|e| e.marker == Marker::Revoked)
        .map(|e| e.key.blob)
        .collect();
    let mut out: Vec<HostKey> = Vec::new();
    for (_, text) in files {
        for entry in entries(text) {
            if entry.marker == Marker::CertAuthority
                && hosts_match(entry.hosts, &name)
                && !revoked.contains(&entry.key.blob)
                && !out.contains(&entry.key)
            {
                out.push(entry.key);
            }
        }
    }
    out
}

/// Whether any `@cert-authority` line covers `host:port`, revoked or not: then a host
/// certificate is worth asking for (one from a revoked authority is refused, as ssh does,
/// rather than its key being taken for a plain, unknown one).
pub fn has_cert_authority(files: &[(PathBuf, String)], host: &str, port: u16) -> bool {
    let name = lookup_name(host, port);
    files.iter().any(|(_, text)| {
        entries(text).any(|e| e.marker == Marker::CertAuthority && hosts_match(e.hosts, &name))
    })
}

/// The first `@revoked` line listing `blob` (a host key or an authority's key), whatever its
/// host patterns.
pub fn revoked(files: &[(PathBuf, String)], blob: &[u8]) -> Option<(PathBuf, usize)> {
    files.iter().find_map(|(path, text)| {
        entries(text)
            .find(|e| e.marker == Marker::Revoked && e.key.blob == blob)
            .map(|e| (path.clone(), e.line))
    })
}

/// Why `cert` is not a valid host certificate for `host` at `now` (Unix seconds), or None.
/// Whether its signer is trusted is the caller's question ([`cert_authorities`]); this checks
/// what ssh's `sshkey_cert_check_host` does: a host (not user) certificate, the CA's signature
/// over it, the validity window, `host` among the principals (an empty list covers every
/// host), and no critical option (none is defined for host certificates).
pub fn host_certificate_problem(cert: &Certificate, host: &str, now: u64) -> Option<String> {
    if cert.cert_type() != CertType::Host {
        return Some("it is a user certificate, not a host certificate".into());
    }
    let signer = cert.signature_key().fingerprint(HashAlg::Sha256);
    if cert.verify_signature().is_err() {
        return Some("its signature does not verify".into());
    }
    if cert.validate_at(now, [&signer]).is_err() {
        return Some(format!(
            "it is valid from {} to {} (Unix time) and now is {now}",
            cert.valid_after(),
            cert.valid_before()
        ));
    }
    let principals = cert.valid_principals();
    if !principals.is_empty() && !principals.iter().any(|p| p.eq_ignore_ascii_case(host)) {
        return Some(format!("it names {} and not {host}", principals.join(", ")));
    }
    if let Some(name) = cert.critical_options().keys().next() {
        return Some(format!(
            "it has the critical option {name}, which hosts do not use"
        ));
    }
    None
}

/// The key types listed for `host:port` (plain lines), in file order: ssh puts these first in
/// its host-key algorithm offer (sshconnect2.c `order_hostkeyalgs`), so that a host known by
/// its RSA key is not met with its Ed25519 key, which would count as changed.
pub fn known_algorithms(files: &[(PathBuf, String)], host: &str, port: u16) -> Vec<String> {
    let name = lookup_name(host, port);
    let mut out: Vec<String> = Vec::new();
    for (_, text) in files {
        for entry in entries(text) {
            if entry.marker == Marker::None
                && hosts_match(entry.hosts, &name)
                && !out.contains(&entry.key.algorithm)
            {
                out.push(entry.key.algorithm);
            }
        }
    }
    out
}

/// The line to append for `host:port`, with its newline: `host` for port 22, `[host]:port`
/// otherwise, lowercased (hostfile.c `write_host_entry`). With `hashed` (HashKnownHosts) the
/// name is `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` (hostfile.c `host_hash`); the salt
/// must be 20 random bytes.
pub fn entry(host: &str, port: u16, key: &HostKey, hashed: bool, salt: [u8; 20]) -> String {
    let name = lookup_name(host, port);
    let hosts = if hashed {
        format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(host_hash(&salt, &name))
        )
    } else {
        name
    };
    let key_type = blob_type(&key.blob).unwrap_or(&key.algorithm);
    format!("{hosts} {key_type} {}\n", STANDARD.encode(&key.blob))
}

/// `ssh-ed25519 AAAA… comment` to a key. None unless the base64 decodes and the blob's own
/// type is the one written (as sshkey.c `sshkey_read` requires).
pub fn parse_public_key_line(text: &str) -> Option<HostKey> {
    let mut words = text.split_whitespace();
    let algorithm = words.next()?;
    let blob = LENIENT.decode(words.next()?).ok()?;
    (blob_type(&blob)? == algorithm).then(|| HostKey {
        algorithm: algorithm.to_string(),
        blob,
    })
}

/// The name ssh looks up: `host`, or `[host]:port` off port 22 (misc.c `put_host_port`),
/// lowercased as ssh.c lowercases the host name.
fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 || port == 0 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// base64 as OpenSSH's `b64_pton` takes it: padding optional.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// hostfile.c HASH_MAGIC.
const HASH_MAGIC: &str = "|1|";

fn host_hash(salt: &[u8], name: &str) -> Vec<u8> {
    // HMAC takes keys of any length: the error arm is never taken.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(salt) else {
        return Vec::new();
    };
    mac.update(name.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The host field of a line against the lookup name: a hashed name, or a comma-separated
/// pattern list where a matching `!pattern` excludes the line (hostfile.c `hostkeys_foreach`,
/// match.c `match_hostname`).
fn hosts_match(hosts: &str, name: &str) -> bool {
    match hosts.strip_prefix(HASH_MAGIC) {
        Some(hashed) => {
            let Some((salt, hash)) = hashed.split_once('|') else {
                return false;
            };
            match (LENIENT.decode(salt), LENIENT.decode(hash)) {
                // hostfile.c `extract_salt`: the salt is a SHA-1 digest's length.
                (Ok(salt), Ok(hash)) if salt.len() == 20 => host_hash(&salt, name) == hash,
                _ => false,
            }
        }
        None => match_pattern_list(name, hosts) == Some(true),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    CertAuthority,
    Revoked,
}

struct Entry<'a> {
    /// 1-based, as ssh and editors count.
    line: usize,
    marker: Marker,
    hosts: &'a str,
    key: HostKey,
}

/// The well-formed lines of a file: `[@marker] hosts keytype base64 [comment]`. Blank lines,
/// comments and anything malformed (unknown marker, bad base64, old RSA1 `bits e n` keys) are
/// skipped, as hostfile.c does.
fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.split('\n').enumerate().filter_map(|(index, raw)| {
        let line = raw.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (first, rest) = split_word(line);
        let (marker, hosts, rest) = match first {
            "@cert-authority" => {
                let (hosts, rest) = split_word(rest);
                (Marker::CertAuthority, hosts, rest)
            }
            "@revoked" => {
                let (hosts, rest) = split_word(rest);
                (Marker::Revoked, hosts, rest)
            }
            m if m.starts_with('@') => return None,
            hosts => (Marker::None, hosts, rest),
        };
        if hosts.is_empty() {
            return None;
        }
        let key = parse_public_key_line(rest)?;
        Some(Entry {
            line: index + 1,
            marker,
            hosts,
            key,
        })
    })
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start_matches([' ', '\t', '\r']);
    match text.find([' ', '\t', '\r']) {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    }
}

/// The type name a wire-form key starts with (RFC 4253 section 6.6: `string` = u32 length,
/// bytes).
fn blob_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4usize.checked_add(len)?)?;
    std::str::from_utf8(name).ok().filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use proptest::prelude::*;

    use super::*;

    // Made with `ssh-keygen -t ed25519|ecdsa`; their fingerprints as `ssh-keygen -lf` prints them.
    const K1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOD84MK+xuiuNDTolVFsGoo7P5tMNK2Q13ukwMEEllTW k1";
    const K1_FP: &str = "SHA256:4ojAWJVRFheuwxiwsE2Y1URJ/RTnm4ZoGTL5iptd1wU";
    const K2: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHemaHxwI/ewoIn5zmKxDuysUQdxtJjhTuyop4n95qfmzn5cNi3a1hUbdnHInQ/9H6GUoYwoM/G0LdRE5AUHKXA= k2";
    const K2_FP: &str = "SHA256:eU2C7HORhhnKpgn7BAUzOyDqwaO3n2BjH9c+AyJ8M/Q";
    const K3: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINGtm4d2I40o7u/Sk8HLnXw3ZNIcyMa9YfLC7yRwi8FS k3";
    const K3_FP: &str = "SHA256:rk9r/xMMj4AtR+zVaXJLpWB9lnu0edPsyGisHPaeunY";
    /// `ssh-keygen -H` of "web1 K1" and "[web1]:2222 K2".
    const HASHED: &str = "\
|1|hrra3xy/yP0RMiP6S0J5ny3fOGI=|g6QYS1A0n9rNeW4tM31TOYIHFVA= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOD84MK+xuiuNDTolVFsGoo7P5tMNK2Q13ukwMEEllTW
|1|t6NsNGyxVOWhuYh9jgmtml/sdpg=|5cI3s/ogAHlyF5jLq3qkmkWDEfM= ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHemaHxwI/ewoIn5zmKxDuysUQdxtJjhTuyop4n95qfmzn5cNi3a1hUbdnHInQ/9H6GUoYwoM/G0LdRE5AUHKXA=
";

    fn key(line: &str) -> HostKey {
        parse_public_key_line(line).expect("a valid key line")
    }

    /// "ssh-ed25519 AAAA…" without the comment, to put after host patterns.
    fn bare(line: &str) -> String {
        line.split(' ').take(2).collect::<Vec<_>>().join(" ")
    }

    fn user_file(text: &str) -> Vec<(PathBuf, String)> {
        vec![(PathBuf::from("/home/me/.ssh/known_hosts"), text.to_string())]
    }

    fn known(file: &str, line: usize) -> Verdict {
        Verdict::Known {
            file: file.into(),
            line,
        }
    }

    const USER: &str = "/home/me/.ssh/known_hosts";

    #[test]
    fn fingerprints_are_ssh_keygen_s() {
        assert_eq!(fingerprint(&key(K1).blob), K1_FP);
        assert_eq!(fingerprint(&key(K2).blob), K2_FP);
        assert_eq!(fingerprint(&key(K3).blob), K3_FP);
    }

    #[test]
    fn parse_public_key_lines() {
        let k = key(K2);
        assert_eq!(k.algorithm, "ecdsa-sha2-nistp256");
        assert_eq!(HostKey::from_blob(k.blob.clone()), Some(k));
        assert_eq!(key(&bare(K1)), key(K1));
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 !!!notbase64",
            // The blob says ssh-ed25519.
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOD84MK+xuiuNDTolVFsGoo7P5tMNK2Q13ukwMEEllTW",
            "ssh-ed25519 AAAA",
            "2048 65537 1234567",
        ] {
            assert_eq!(parse_public_key_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_host_on_port_22() {
        let files = user_file(&format!("other {}\nweb1 {}\n", bare(K3), bare(K1)));
        assert_eq!(check(&files, "web1", 22, &key(K1)), known(USER, 2));
        assert_eq!(check(&files, "WEB1", 22, &key(K1)), known(USER, 2));
        assert_eq!(check(&files, "web2", 22, &key(K1)), Verdict::Unknown);
    }

    #[test]
    fn ports_other_than_22_use_brackets() {
        let files = user_file(&format!("web1 {}\n[web1]:2222 {}\n", bare(K1), bare(K2)));
        // A plain `host` line covers port 22 only; `[host]:port` covers that port only.
        assert_eq!(
            check(&files, "web1", 2222, &key(K1)),
            Verdict::Changed {
                file: USER.into(),
                line: 2
            }
        );
        assert_eq!(check(&files, "web1", 2222, &key(K2)), known(USER, 2));
        assert_eq!(
            check(&files, "web1", 22, &key(K2)),
            Verdict::Changed {
                file: USER.into(),
                line: 1
            }
        );
        assert_eq!(check(&files, "web1", 2200, &key(K1)), Verdict::Unknown);
        assert_eq!(check(&files, "::1", 2200, &key(K1)), Verdict::Unknown);
    }

    #[test]
    fn wildcards_lists_and_negation() {
        let files = user_file(&format!(
            "!bad.example.com,*.example.com {}\nweb?,[db1]:* {}\n",
            bare(K1),
            bare(K2)
        ));
        assert_eq!(check(&files, "a.example.com", 22, &key(K1)), known(USER, 1));
        assert_eq!(
            check(&files, "bad.example.com", 22, &key(K1)),
            Verdict::Unknown
        );
        assert_eq!(check(&files, "web7", 22, &key(K2)), known(USER, 2));
        assert_eq!(check(&files, "web77", 22, &key(K2)), Verdict::Unknown);
        assert_eq!(check(&files, "db1", 5432, &key(K2)), known(USER, 2));
        // Patterns see `[host]:port` off port 22 (as `ssh-keygen -F` shows): `*.example.com`
        // does not cover `[a.example.com]:2222`, while `*` does.
        assert_eq!(
            check(&files, "a.example.com", 2222, &key(K1)),
            Verdict::Unknown
        );
        let star = user_file(&format!("* {}\n", bare(K1)));
        assert_eq!(
            check(&star, "a.example.com", 2222, &key(K1)),
            known(USER, 1)
        );
    }

    #[test]
    fn changed_names_the_line_with_the_same_algorithm_first() {
        let files = vec![
            (
                PathBuf::from(USER),
                format!("web1 {}\nweb1 {}\n", bare(K2), bare(K3)),
            ),
            (
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                format!("web1 {}\n", bare(K3)),
            ),
        ];
        assert_eq!(
            check(&files, "web1", 22, &key(K1)),
            Verdict::Changed {
                file: USER.into(),
                line: 2
            }
        );
        // Only a key of another algorithm: still changed, as in ssh.
        let files = user_file(&format!("web1 {}\n", bare(K2)));
        assert_eq!(
            check(&files, "web1", 22, &key(K1)),
            Verdict::Changed {
                file: USER.into(),
                line: 1
            }
        );
    }

    #[test]
    fn a_listed_key_wins_over_other_keys_of_the_host() {
        let files = vec![
            (PathBuf::from(USER), format!("web1 {}\n", bare(K3))),
            (
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                format!("# global\nweb1 {}\n", bare(K1)),
            ),
        ];
        assert_eq!(
            check(&files, "web1", 22, &key(K1)),
            known("/etc/ssh/ssh_known_hosts", 2)
        );
    }

    #[test]
    fn revoked_wins_whatever_host_it_names() {
        let files = vec![
            (PathBuf::from(USER), format!("web1 {}\n", bare(K1))),
            (
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                format!("@revoked elsewhere {}\n", bare(K1)),
            ),
        ];
        assert_eq!(
            check(&files, "web1", 22, &key(K1)),
            Verdict::Revoked {
                file: "/etc/ssh/ssh_known_hosts".into(),
                line: 1
            }
        );
        assert_eq!(
            check(&files, "web1", 22, &key(K3)),
            Verdict::Changed {
                file: USER.into(),
                line: 1
            }
        );
    }

    #[test]
    fn cert_authorities_cover_their_hosts_only() {
        let files = user_file(&format!(
            "@cert-authority *.example.com {}\n@cert-authority [*.example.com]:2222 {}\n\
             @cert-authority *.example.com {}\n@revoked * {}\n",
            bare(K1),
            bare(K2),
            bare(K3),
            bare(K3)
        ));
        assert_eq!(
            cert_authorities(&files, "a.example.com", 22),
            [key(&bare(K1))]
        );
        assert_eq!(
            cert_authorities(&files, "a.example.com", 2222),
            [key(&bare(K2))]
        );
        assert!(cert_authorities(&files, "a.example.org", 22).is_empty());
        assert!(has_cert_authority(&files, "a.example.com", 2222));
        assert!(!has_cert_authority(&files, "a.example.org", 22));
        // Only revoked authorities cover it: asked for, then refused.
        let revoked_only = user_file(&format!(
            "@cert-authority * {}\n@revoked * {}\n",
            bare(K3),
            bare(K3)
        ));
        assert!(cert_authorities(&revoked_only, "web1", 22).is_empty());
        assert!(has_cert_authority(&revoked_only, "web1", 22));
        // A CA key is not a host key.
        assert_eq!(
            check(&files, "a.example.com", 22, &key(K1)),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_entries_from_ssh_keygen() {
        let files = user_file(HASHED);
        assert_eq!(check(&files, "web1", 22, &key(K1)), known(USER, 1));
        assert_eq!(check(&files, "web1", 2222, &key(K2)), known(USER, 2));
        assert_eq!(
            check(&files, "web1", 22, &key(K3)),
            Verdict::Changed {
                file: USER.into(),
                line: 1
            }
        );
        assert_eq!(check(&files, "web2", 22, &key(K1)), Verdict::Unknown);
        assert_eq!(
            known_algorithms(&files, "web1", 2222),
            ["ecdsa-sha2-nistp256"]
        );
    }

    #[test]
    fn entry_lines() {
        let k1 = key(K1);
        assert_eq!(
            entry("Web1", 22, &k1, false, [0; 20]),
            format!("web1 {}\n", bare(K1))
        );
        assert_eq!(
            entry("web1", 2222, &k1, false, [0; 20]),
            format!("[web1]:2222 {}\n", bare(K1))
        );
        // With ssh-keygen's salt, the same hashed line as ssh-keygen -H wrote.
        let first = HASHED.lines().next().unwrap_or_default();
        let salt_b64 = first.split('|').nth(2).unwrap_or_default();
        let salt: [u8; 20] = STANDARD.decode(salt_b64).unwrap().try_into().unwrap();
        assert_eq!(entry("web1", 22, &k1, true, salt), format!("{first}\n"));
        // The algorithm comes from the blob, not from the signature algorithm in use.
        let rsa_sig = HostKey {
            algorithm: "rsa-sha2-512".into(),
            blob: k1.blob.clone(),
        };
        assert!(entry("web1", 22, &rsa_sig, false, salt).contains(" ssh-ed25519 "));
    }

    #[test]
    fn comments_blank_and_malformed_lines_are_skipped() {
        let files = user_file(&format!(
            "# comment\n\n   \n@bogus web1 {k}\nweb1\nweb1 ssh-ed25519\nweb1 ssh-ed25519 ###\n\
             web1 2048 65537 12345\n|1|short|x= {k}\n|1|{k}\n@revoked\n   web1 {k} trailing comment\n",
            k = bare(K1)
        ));
        assert_eq!(check(&files, "web1", 22, &key(K1)), known(USER, 12));
        assert_eq!(
            check(&files, "web1", 22, &key(K3)),
            Verdict::Changed {
                file: USER.into(),
                line: 12
            }
        );
    }

    #[test]
    fn crlf_files() {
        let files = user_file(&format!("web1 {}\r\n", bare(K1)));
        assert_eq!(check(&files, "web1", 22, &key(K1)), known(USER, 1));
    }

    /// A scratch directory removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("sshpty-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn ssh_keygen(args: &[&str], dir: &Path) -> Option<String> {
        let out = Command::new("ssh-keygen")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "ssh-keygen {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Fresh keys from the installed ssh-keygen: its fingerprint, its -H hashing and its -F
    /// lookup of our lines. Skipped (with a note) where ssh-keygen is not installed.
    #[test]
    fn agrees_with_the_installed_ssh_keygen() {
        let tmp = TempDir::new("known-hosts");
        let dir = tmp.0.as_path();
        if ssh_keygen(
            &["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f", "k"],
            dir,
        )
        .is_none()
        {
            eprintln!("ssh-keygen not installed: agrees_with_the_installed_ssh_keygen skipped");
            return;
        }
        ssh_keygen(
            &[
                "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", "t", "-f", "e",
            ],
            dir,
        );
        let pubs = [
            std::fs::read_to_string(dir.join("k.pub")).unwrap(),
            std::fs::read_to_string(dir.join("e.pub")).unwrap(),
        ];
        for (name, line) in ["k.pub", "e.pub"].iter().zip(&pubs) {
            let printed = ssh_keygen(&["-lf", name], dir).unwrap();
            let theirs = printed.split_whitespace().nth(1).unwrap_or_default();
            assert_eq!(fingerprint(&key(line).blob), theirs);
        }
        let (k, e) = (key(&pubs[0]), key(&pubs[1]));

        // ssh-keygen -H hashes our plain lines; we still find them.
        let plain = format!(
            "{}{}",
            entry("host.example", 22, &k, false, [0; 20]),
            entry("host.example", 2222, &e, false, [0; 20])
        );
        std::fs::write(dir.join("kh"), &plain).unwrap();
        ssh_keygen(&["-q", "-H", "-f", "kh"], dir);
        let hashed = std::fs::read_to_string(dir.join("kh")).unwrap();
        assert!(hashed.starts_with("|1|"), "{hashed}");
        let files = vec![(dir.join("kh"), hashed)];
        assert_eq!(
            check(&files, "host.example", 22, &k),
            Verdict::Known {
                file: dir.join("kh"),
                line: 1
            }
        );
        assert_eq!(
            check(&files, "host.example", 2222, &e),
            Verdict::Known {
                file: dir.join("kh"),
                line: 2
            }
        );
        assert_eq!(
            check(&files, "host.example", 2222, &k),
            Verdict::Changed {
                file: dir.join("kh"),
                line: 2
            }
        );

        // ssh-keygen -F finds our hashed lines, under the name ssh looks up.
        let salt = [7u8; 20];
        let ours = format!(
            "{}{}",
            entry("Host.Example", 22, &k, true, salt),
            entry("host.example", 2222, &e, true, [9; 20])
        );
        std::fs::write(dir.join("ours"), &ours).unwrap();
        let found = ssh_keygen(&["-F", "host.example", "-f", "ours"], dir).unwrap();
        assert!(found.contains("found: line 1"), "{found}");
        let found = ssh_keygen(&["-F", "[host.example]:2222", "-f", "ours"], dir).unwrap();
        assert!(found.contains("found: line 2"), "{found}");
    }

    #[test]
    fn revoked_finds_a_key_under_any_pattern() {
        let files = user_file(&format!(
            "web1 {}\n@revoked nothing.here {}\n",
            bare(K1),
            bare(K3)
        ));
        assert_eq!(revoked(&files, &key(K3).blob), Some((USER.into(), 2)));
        assert_eq!(revoked(&files, &key(K1).blob), None);
    }

    /// Host certificates made by the installed ssh-keygen: the valid one passes, and each
    /// way of being invalid is named. Skipped (with a note) without ssh-keygen.
    #[test]
    fn host_certificates_from_ssh_keygen() {
        let tmp = TempDir::new("host-cert");
        let dir = tmp.0.as_path();
        if ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "ca"], dir).is_none() {
            eprintln!("ssh-keygen not installed: host_certificates_from_ssh_keygen skipped");
            return;
        }
        ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-f", "host"], dir);
        let sign = |name: &str, extra: &[&str]| -> Certificate {
            std::fs::copy(dir.join("host.pub"), dir.join(format!("{name}.pub"))).unwrap();
            let pubfile = format!("{name}.pub");
            let mut args = vec!["-q", "-s", "ca", "-I", name];
            args.extend_from_slice(extra);
            args.push(&pubfile);
            ssh_keygen(&args, dir);
            let text = std::fs::read_to_string(dir.join(format!("{name}-cert.pub"))).unwrap();
            Certificate::from_openssh(text.trim()).expect("a certificate")
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let good = sign("good", &["-h", "-n", "web1,127.0.0.1"]);
        assert_eq!(host_certificate_problem(&good, "web1", now), None);
        assert_eq!(host_certificate_problem(&good, "127.0.0.1", now), None);
        assert_eq!(host_certificate_problem(&good, "WEB1", now), None);
        let other = host_certificate_problem(&good, "web2", now).unwrap();
        assert!(
            other.contains("names web1, 127.0.0.1 and not web2"),
            "{other}"
        );
        let any = sign("any", &["-h"]);
        assert_eq!(host_certificate_problem(&any, "whatever", now), None);
        let user = sign("user", &["-n", "web1"]);
        let why = host_certificate_problem(&user, "web1", now).unwrap();
        assert!(why.contains("user certificate"), "{why}");
        let expired = sign("expired", &["-h", "-n", "web1", "-V", "20200101:20200102"]);
        let why = host_certificate_problem(&expired, "web1", now).unwrap();
        assert!(why.contains("valid from"), "{why}");
        let future = sign("future", &["-h", "-n", "web1", "-V", "+52w:+104w"]);
        assert!(host_certificate_problem(&future, "web1", now).is_some());
        // One bit of the nonce changed (after the type string and the nonce's length): the
        // CA's signature no longer verifies.
        let mut bytes = good.to_bytes().unwrap();
        let nonce_at = 4 + "ssh-ed25519-cert-v01@openssh.com".len() + 4;
        bytes[nonce_at] ^= 1;
        let tampered = Certificate::from_bytes(&bytes).expect("still well-formed");
        let why = host_certificate_problem(&tampered, "web1", now).unwrap();
        assert!(why.contains("signature"), "{why}");
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_files(text in any::<String>(), host in "[a-z0-9.:\\[\\]*-]{0,12}", port in any::<u16>()) {
            let files = user_file(&text);
            let _ = check(&files, &host, port, &key(K1));
            let _ = cert_authorities(&files, &host, port);
            let _ = known_algorithms(&files, &host, port);
            let _ = parse_public_key_line(&text);
        }

        #[test]
        fn never_panics_on_known_hosts_like_lines(
            lines in prop::collection::vec(
                (
                    prop::sample::select(vec!["", "@revoked ", "@cert-authority ", "@x "]),
                    "[a-z0-9.,!*?|=/+\\[\\]:]{0,20}",
                    prop::sample::select(vec![bare(K1), bare(K2), "ssh-ed25519 AAAA".to_string(), String::new()]),
                ),
                0..16,
            ),
            host in "[a-z0-9.]{1,8}",
        ) {
            let text: String = lines.iter().map(|(m, h, k)| format!("{m}{h} {k}\n")).collect();
            let files = user_file(&text);
            let _ = check(&files, &host, 22, &key(K2));
            let _ = cert_authorities(&files, &host, 2222);
        }

        #[test]
        fn an_appended_entry_is_then_known(
            host in "[a-zA-Z0-9.-]{1,20}",
            port in 1u16..,
            hashed in any::<bool>(),
            salt in any::<[u8; 20]>(),
        ) {
            let k = key(K1);
            let line = entry(&host, port, &k, hashed, salt);
            prop_assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            let files = user_file(&line);
            prop_assert_eq!(check(&files, &host, port, &k), known(USER, 1));
            prop_assert_eq!(check(&files, &host, port, &key(K3)), Verdict::Changed { file: USER.into(), line: 1 });
            // Another port is another host (unless the host is written with the port already).
            let other = if port == 22 { 2222 } else { 22 };
            prop_assert_eq!(check(&files, &host, other, &k), Verdict::Unknown);
        }
    }
}
