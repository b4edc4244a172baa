//! Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms as OpenSSH reads them (kex.c
//! `kex_assemble_names`, OpenSSH 9.x), applied to what russh offers: so a crypto policy
//! (Fedora's `/etc/crypto-policies/back-ends/openssh.config`) restricts sshpty as it restricts
//! ssh. Pure: the default and supported names are passed in.

use super::config::match_pattern;

/// The names to offer, in order, for the list `spec` (ssh_config(5), Ciphers):
/// - `+a,b`: the defaults, then the supported names matching `a`, `b`;
/// - `-a,b`: the defaults without the names matching `a`, `b`;
/// - `^a,b`: the supported names matching `a`, `b`, then the rest of the defaults;
/// - `a,b`: the supported names matching `a`, `b` only.
///
/// Patterns take `*` and `?`; names russh does not have are dropped, as kex.c drops names
/// its build lacks. Empty when nothing is left (ssh refuses such a list).
pub fn assemble(spec: &str, default: &[&str], supported: &[&str]) -> Vec<String> {
    let patterns = |list: &str| -> Vec<String> {
        list.split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let wanted: Vec<String> = if let Some(removed) = spec.strip_prefix('-') {
        let removed = patterns(removed);
        return default
            .iter()
            .filter(|name| !removed.iter().any(|p| match_pattern(name, p)))
            .map(|name| name.to_string())
            .collect();
    } else if let Some(added) = spec.strip_prefix('+') {
        let mut all: Vec<String> = default.iter().map(|n| n.to_string()).collect();
        all.extend(patterns(added));
        all
    } else if let Some(first) = spec.strip_prefix('^') {
        let mut all = patterns(first);
        all.extend(default.iter().map(|n| n.to_string()));
        all
    } else {
        patterns(spec)
    };
    // kex.c: each pattern expands to the supported names it matches, in their order; a name
    // already in the list is not repeated.
    let mut out: Vec<String> = Vec::new();
    for pattern in &wanted {
        for name in supported {
            if match_pattern(name, pattern) && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SUPPORTED: &[&str] = &[
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
        "aes256-cbc",
    ];
    const DEFAULT: &[&str] = &[
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes256-ctr",
        "aes128-ctr",
    ];

    #[test]
    fn the_four_forms() {
        assert_eq!(
            assemble(
                "aes128-ctr,aes256-gcm@openssh.com,3des-cbc",
                DEFAULT,
                SUPPORTED
            ),
            ["aes128-ctr", "aes256-gcm@openssh.com"]
        );
        assert_eq!(
            assemble("+aes256-cbc", DEFAULT, SUPPORTED),
            [DEFAULT, &["aes256-cbc"]].concat()
        );
        assert_eq!(
            assemble("-chacha20*,aes256-ctr", DEFAULT, SUPPORTED),
            ["aes256-gcm@openssh.com", "aes128-ctr"]
        );
        assert_eq!(
            assemble("^aes128-ctr", DEFAULT, SUPPORTED),
            [
                "aes128-ctr",
                "chacha20-poly1305@openssh.com",
                "aes256-gcm@openssh.com",
                "aes256-ctr"
            ]
        );
        assert_eq!(
            assemble("aes*-gcm@openssh.com", DEFAULT, SUPPORTED),
            ["aes256-gcm@openssh.com", "aes128-gcm@openssh.com"]
        );
        assert!(assemble("3des-cbc", DEFAULT, SUPPORTED).is_empty());
        assert_eq!(assemble("AES128-CTR", DEFAULT, SUPPORTED), ["aes128-ctr"]);
    }

    proptest! {
        /// Whatever is asked, only supported names come out, each once; `-` only removes.
        #[test]
        fn only_supported_names_each_once(
            prefix in prop::sample::select(vec!["", "+", "-", "^"]),
            words in prop::collection::vec("[a-z0-9*?@.-]{0,12}", 0..5),
        ) {
            let spec = format!("{prefix}{}", words.join(","));
            let out = assemble(&spec, DEFAULT, SUPPORTED);
            for (i, name) in out.iter().enumerate() {
                prop_assert!(SUPPORTED.contains(&name.as_str()));
                prop_assert!(!out[..i].contains(name));
            }
            if prefix == "-" {
                prop_assert!(out.iter().all(|n| DEFAULT.contains(&n.as_str())));
            }
            if prefix == "+" || prefix == "^" {
                prop_assert!(DEFAULT.iter().all(|d| out.iter().any(|n| n == d)));
            }
        }
    }
}
