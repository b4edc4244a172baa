//! `%inventory FILE` and `%on PATTERN` (issue 15): which hosts a cell runs on (an Ansible
//! inventory and its host patterns, from the `fleet` crate), `%on`'s options, and how a
//! host is logged in to. Running the cell's text on them is `on_hosts`.
//!
//! Without `%inventory`, the inventory is the hosts this notebook has logged in to, plus the
//! plain host names the pattern itself spells out, so `%on all` never reaches every host of
//! `~/.ssh/config` by surprise.

use std::path::PathBuf;

use fleet::fold::hostlist;
use fleet::inventory::{Connection, Inventory};
use fleet::schedule::MaxFail;
use targets::ssh::config::LoginRequest;
use targets::{LOCAL, LoginTarget};

use super::magic::{Magic, OnArgs, Spec};
use crate::failure::{Failure, Outcome};
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;

pub(super) const INVENTORY: Spec = Spec {
    name: "inventory",
    usage: "%inventory [FILE | off]",
    description: "load an Ansible inventory (INI or YAML, group_vars/ and host_vars/ beside it) for %on; alone: show it",
    parse: |a| Ok(Magic::Inventory(a.optional_word()?)),
};

pub(super) const ON: Spec = Spec {
    name: "on",
    usage: "%on [--forks N] [--batch N] [--max-fail N|P%] PATTERN",
    description: "run the rest of the cell on every host PATTERN selects (Ansible's patterns: web:&prod:!web3), many at once; alone: say which",
    parse: |a| parse_on(&a.words()?).map(Magic::On).map_err(|e| a.usage(e)),
};

/// `%on`'s words: options, then the pattern.
fn parse_on(words: &[String]) -> Result<OnArgs, String> {
    let mut on = OnArgs {
        pattern: String::new(),
        forks: None,
        batch: None,
        max_fail: None,
    };
    let mut pattern = None;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (w.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{flag} needs a value"))
        };
        let count = |v: String| -> Result<usize, String> {
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{flag} takes a number of hosts above 0, not {v:?}")),
            }
        };
        match flag {
            "--forks" => on.forks = Some(count(value()?)?),
            "--batch" => on.batch = Some(count(value()?)?),
            "--max-fail" => on.max_fail = Some(MaxFail::parse(&value()?)?),
            f if f.starts_with("--") => return Err(format!("has no option {f}")),
            p if pattern.is_none() => pattern = Some(p.to_owned()),
            _ => return Err("needs one pattern (no spaces: `web:db`, `web,db`)".into()),
        }
    }
    on.pattern = pattern.ok_or("needs a pattern")?;
    Ok(on)
}

/// The inventory `%inventory` loaded.
pub struct Loaded {
    pub path: PathBuf,
    pub inventory: Inventory,
}

impl Engine {
    pub(super) fn inventory(&self, arg: Option<String>, out: &mut StreamOut<'_>) -> Outcome {
        let Some(arg) = arg else {
            let st = self.state();
            match &st.inventory {
                Some(l) => out.text(&describe(l)),
                None => out
                    .text("no inventory: %on selects among the hosts this notebook logged in to\n"),
            }
            return Ok(());
        };
        if arg == "off" {
            self.state().inventory = None;
            out.text("inventory dropped: %on selects among the hosts this notebook logged in to\n");
            return Ok(());
        }
        self.local_allowed("`%inventory` (it reads a file of the kernel's machine)")?;
        let path = PathBuf::from(&arg);
        let inventory =
            fleet::inventory::load(&path).map_err(|e| Failure::Inventory(e.to_string()))?;
        let loaded = Loaded { path, inventory };
        out.text(&describe(&loaded));
        self.state().inventory = Some(loaded);
        Ok(())
    }

    /// The hosts `pattern` selects, each with how to reach it (None: by its name alone, as
    /// `%login NAME` would).
    pub(crate) fn select(
        &self,
        pattern: &str,
    ) -> Result<Vec<(String, Option<Connection>)>, Failure> {
        let st = self.state();
        let fallback;
        let inv = match &st.inventory {
            Some(l) => &l.inventory,
            None => {
                let mut names: Vec<String> = st
                    .hosts
                    .iter()
                    .map(|(n, _)| n.clone())
                    .filter(|n| n != LOCAL)
                    .collect();
                for term in literal_names(pattern) {
                    if !names.contains(&term) {
                        names.push(term);
                    }
                }
                fallback = Inventory::from_hosts(names);
                &fallback
            }
        };
        let sel =
            fleet::pattern::select(inv, pattern).map_err(|e| Failure::Pattern(e.to_string()))?;
        let from_inventory = st.inventory.is_some();
        sel.hosts
            .iter()
            .map(|h| {
                let c = if from_inventory {
                    Some(
                        inv.connection(h)
                            .map_err(|e| Failure::Inventory(e.to_string()))?,
                    )
                } else {
                    None
                };
                Ok(((*h).to_owned(), c))
            })
            .collect()
    }

    /// `%on PATTERN` alone: what it selects.
    pub(super) fn on_alone(&self, pattern: &str, out: &mut StreamOut<'_>) -> Outcome {
        let hosts = self.select(pattern)?;
        let names: Vec<&str> = hosts.iter().map(|(h, _)| h.as_str()).collect();
        out.text(&format!(
            "{pattern} selects {} host{}: {}\n",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            hostlist::fold(&names)
        ));
        Ok(())
    }
}

/// How to log in to an inventory host: by its inventory name, so ssh_config's `Host`
/// blocks for that name apply, with the inventory's address, port, user and key on top.
pub(crate) fn login_target(name: &str, c: Option<&Connection>) -> LoginTarget {
    let mut r = LoginRequest {
        host: name.to_owned(),
        ..Default::default()
    };
    r.options.push(("BatchMode".into(), "yes".into()));
    if let Some(c) = c {
        if c.address != c.name {
            r.options.push(("HostName".into(), c.address.clone()));
        }
        r.port = c.port;
        if let Some(u) = &c.user {
            r.options.push(("User".into(), u.clone()));
        }
        if let Some(k) = &c.identity_file {
            r.identities.push(k.clone());
        }
    }
    LoginTarget::Ssh(r)
}

/// The plain host names a pattern spells out (no glob, group or regex syntax): without an
/// inventory, these may be reached though not logged in to yet.
fn literal_names(pattern: &str) -> Vec<String> {
    pattern
        .split([':', ','])
        .map(|t| t.trim_start_matches(['&', '!']))
        .filter(|t| {
            !t.is_empty()
                && *t != "all"
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        })
        .map(str::to_owned)
        .collect()
}

fn describe(l: &Loaded) -> String {
    let inv = &l.inventory;
    let hosts: Vec<&str> = inv.hosts().collect();
    let mut s = format!(
        "inventory {}: {} host{} in {} group{} ({})\n",
        l.path.display(),
        hosts.len(),
        if hosts.len() == 1 { "" } else { "s" },
        inv.groups().len(),
        if inv.groups().len() == 1 { "" } else { "s" },
        inv.groups().collect::<Vec<_>>().join(", ")
    );
    for n in inv.notes().lines() {
        s.push_str(&format!("  {n}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_takes_its_options_then_one_pattern() {
        let words = |t: &str| t.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            parse_on(&words("--forks 5 --batch=3 --max-fail 10% web:&prod")),
            Ok(OnArgs {
                pattern: "web:&prod".into(),
                forks: Some(5),
                batch: Some(3),
                max_fail: Some(MaxFail::Percent(10)),
            })
        );
        assert_eq!(parse_on(&words("web")).unwrap().forks, None);
        for (bad, says) in [
            ("--forks 0 web", "above 0"),
            ("--batch", "needs a value"),
            ("--max-fail x web", "count or a percentage"),
            ("--fork 3 web", "no option --fork"),
            ("web db", "one pattern"),
            ("--forks 3", "needs a pattern"),
        ] {
            let e = parse_on(&words(bad)).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn plain_names_of_a_pattern_and_nothing_else() {
        assert_eq!(
            literal_names("web1:&db.example.com,!h1-ops:web*:~x.*:all:prod[0]"),
            ["web1", "db.example.com", "h1-ops"]
        );
    }

    #[test]
    fn an_inventory_host_is_reached_by_its_name_with_its_variables_on_top() {
        let c = Connection {
            name: "web1".into(),
            address: "10.0.0.5".into(),
            port: Some(2222),
            user: Some("deploy".into()),
            identity_file: Some("~/.ssh/deploy".into()),
        };
        let LoginTarget::Ssh(r) = login_target("web1", Some(&c)) else {
            panic!("not ssh")
        };
        assert_eq!(r.host, "web1");
        assert_eq!(r.port, Some(2222));
        assert_eq!(r.identities, ["~/.ssh/deploy"]);
        assert!(r.options.contains(&("HostName".into(), "10.0.0.5".into())));
        assert!(r.options.contains(&("User".into(), "deploy".into())));
        assert!(r.options.contains(&("BatchMode".into(), "yes".into())));
        // The name is what the host is known by in %hosts and the headers.
        assert_eq!(login_target("web1", Some(&c)).name(), "web1");
    }
}
