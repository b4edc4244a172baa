//! `%inventory FILE` and `%on PATTERN` (issue 15, first step): which hosts a cell runs on
//! (an Ansible inventory and its host patterns, from the `fleet` crate), and running the
//! cell's shell text on each of them in turn, each host with its own connection (kept for
//! later cells) and its own context, as a `%login` host has. The notebook's current host
//! stays current. What is not here yet: running hosts at once, folding identical outputs,
//! one sudo box for the whole fleet.
//!
//! Without `%inventory`, the inventory is the hosts this notebook has logged in to, plus the
//! plain host names the pattern itself spells out, so `%on all` never reaches every host of
//! `~/.ssh/config` by surprise.

use std::path::PathBuf;
use std::time::Instant;

use fleet::fold::{Fold, Output as FoldOutput, Status, hostlist};
use fleet::inventory::{Connection, Inventory};
use serde_json::{Map, Value, json};
use targets::ssh::config::LoginRequest;
use targets::{LOCAL, LoginTarget};

use super::login::LoginBy;
use super::magic::{Magic, Spec};
use crate::failure::{Failure, Outcome};
use crate::frontend::{Display, Output, Request};
use crate::hosts::Condition;
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
    usage: "%on PATTERN",
    description: "run the rest of the cell on every host PATTERN selects (Ansible's patterns: web:&prod:!web3); alone: say which",
    parse: |a| {
        let words = a.words()?;
        match words.as_slice() {
            [pattern] => Ok(Magic::On(pattern.clone())),
            _ => Err(a.usage("needs one pattern (no spaces: `web:db`, `web,db`)")),
        }
    },
};

/// The inventory `%inventory` loaded.
pub struct Loaded {
    pub path: PathBuf,
    pub inventory: Inventory,
}

/// How one host's part of a `%on` cell ended.
struct Ran {
    host: String,
    status: Status,
    millis: u64,
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
    fn select(&self, pattern: &str) -> Result<Vec<(String, Option<Connection>)>, Failure> {
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

    /// `%on PATTERN` and shell text: the text on every selected host, one after another;
    /// an interrupt stops the host running and starts no other. Any host that failed makes
    /// the cell an error, after every host had its turn.
    pub(crate) async fn run_on(
        &self,
        pattern: &str,
        code: &str,
        req: &Request,
        silent: bool,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let hosts = self.select(pattern)?;
        let started = chrono::Utc::now();
        let mut ran: Vec<Ran> = Vec::with_capacity(hosts.len());
        let mut interrupted = false;
        // An interrupt between two hosts (a cell consumes only those that come while it
        // runs) stops the fleet too.
        let mut interrupt = self.inner.interrupt.subscribe();
        interrupt.borrow_and_update();
        for (name, connection) in &hosts {
            if interrupt.has_changed().unwrap_or(true) {
                interrupted = true;
                break;
            }
            let began = Instant::now();
            let outcome = match self.reach(name, connection.as_ref(), req, out).await {
                Ok(()) => {
                    self.run_shell(Some(name), req, silent, code, false, out)
                        .await
                }
                Err(Failure::Interrupted { .. }) => {
                    interrupted = true;
                    break;
                }
                Err(f) => {
                    out.note(&format!("sshpty: {name} is unreachable: {f}\n"));
                    ran.push(Ran {
                        host: name.clone(),
                        status: Status::Unreachable {
                            message: f.to_string(),
                        },
                        millis: millis(began),
                    });
                    continue;
                }
            };
            let status = match &outcome {
                Ok(()) => Status::Ok,
                Err(Failure::ExitStatus { status }) => Status::Failed { exit_code: *status },
                // No exit status to show: -1 in the table, and the error under the output
                // (the table has no room for it).
                Err(f) => {
                    out.note(&format!("sshpty: on {name}: {} ({f})\n", f.ename()));
                    Status::Failed { exit_code: -1 }
                }
            };
            ran.push(Ran {
                host: name.clone(),
                status,
                millis: millis(began),
            });
            if matches!(outcome, Err(Failure::Interrupted { .. })) {
                interrupted = true;
                break;
            }
        }
        let skipped: Vec<&str> = hosts[ran.len()..].iter().map(|(h, _)| h.as_str()).collect();
        self.fleet_summary(pattern, started, &ran, &skipped, req, silent);
        let failed: Vec<&str> = ran
            .iter()
            .filter(|r| !matches!(r.status, Status::Ok))
            .map(|r| r.host.as_str())
            .collect();
        if interrupted {
            return Err(Failure::Interrupted {
                stage: crate::failure::Stage::Cell,
            });
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Failure::FleetFailed {
                failed: failed.len(),
                of: hosts.len(),
                hosts: hostlist::fold(&failed),
            })
        }
    }

    /// Host `name` logged in to and its login environment read: an existing connection is
    /// kept, a lost one opened again, a new one made without questions (BatchMode: a host
    /// that needs a password or an unknown host key fails, never a box per host).
    async fn reach(
        &self,
        name: &str,
        connection: Option<&Connection>,
        req: &Request,
        out: &mut StreamOut<'_>,
    ) -> Outcome {
        let condition = self.state().hosts.get(name).map(|h| h.condition());
        if !matches!(condition, Some(Condition::Ready | Condition::Reading)) {
            self.login(&login_target(name, connection), req, LoginBy::Fleet, out)
                .await?;
        }
        self.settle_login_on(Some(name), out).await
    }

    /// The table of hosts, status, exit code and duration, with the run's facts in its
    /// metadata (the saved notebook's record of what ran where, by whom, when).
    fn fleet_summary(
        &self,
        pattern: &str,
        started: chrono::DateTime<chrono::Utc>,
        ran: &[Ran],
        skipped: &[&str],
        req: &Request,
        silent: bool,
    ) {
        if silent {
            return;
        }
        let mut fold = Fold::new(0);
        for r in ran {
            fold.add(&r.host, r.status.clone(), FoldOutput::Text(b""), r.millis);
        }
        let mut plain = fleet::fold::summary_text(&fold);
        let mut html = fleet::fold::summary_html(&fold);
        if !skipped.is_empty() {
            let line = format!("not started: {}\n", hostlist::fold(skipped));
            plain.push_str(&line);
            html.push_str(&format!("<p>{}</p>", crate::display::html_escape(&line)));
        }
        let user = std::env::var("USER").unwrap_or_default();
        let hosts: Vec<Value> = ran
            .iter()
            .map(|r| {
                let (status, exit) = match &r.status {
                    Status::Ok => ("ok", json!(0)),
                    Status::Failed { exit_code } => ("failed", json!(exit_code)),
                    Status::Unreachable { .. } => ("unreachable", Value::Null),
                };
                json!({"host": r.host, "status": status, "exit_code": exit, "ms": r.millis})
            })
            .collect();
        let mut metadata = Map::new();
        metadata.insert(
            "sshpty".into(),
            json!({"fleet": {
                "pattern": pattern,
                "by": user,
                "started": started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "hosts": hosts,
                "not_started": skipped,
            }}),
        );
        req.outputs.emit(Output::Display(Display {
            id: format!("sshpty-fleet-{}", uuid::Uuid::new_v4()),
            plain,
            html: Some(html),
            metadata,
            terminal: None,
        }));
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How to log in to an inventory host: by its inventory name, so ssh_config's `Host`
/// blocks for that name apply, with the inventory's address, port, user and key on top.
fn login_target(name: &str, c: Option<&Connection>) -> LoginTarget {
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
