//! Where the kernel is, as a frontend shows it beside the notebook: the host cells run on
//! now, its connection state and its mark. A frontend asks for it when it attaches and is
//! told again whenever it changes (the kernel compares snapshots; see `src/kernel/presence.rs`).

use serde_json::{Value, json};

use crate::hosts::{Condition, Host};
use crate::marks::{self, Mark};
use crate::session::Engine;

/// The connection state of the current host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No host: cells fail until `%login`.
    NotLoggedIn,
    /// A `%login` to a new host is under way.
    Connecting,
    /// Connected; the login shell's environment is being read.
    Reading,
    Connected,
    /// The connection is gone (keepalives unanswered, the server went away).
    Lost,
    /// A `%login` to a host whose connection was lost is under way.
    Reconnecting,
    /// Reading the login environment failed: the next cell says why.
    Failed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::NotLoggedIn => "not-logged-in",
            State::Connecting => "connecting",
            State::Reading => "reading",
            State::Connected => "connected",
            State::Lost => "lost",
            State::Reconnecting => "reconnecting",
            State::Failed => "failed",
        }
    }
}

/// A snapshot of where the kernel is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub state: State,
    /// The name given to `%login` (`web1`, `ops@db1`, `local`).
    pub target: Option<String>,
    pub user: Option<String>,
    pub host: Option<String>,
    /// `%become USER`: cells run as USER.
    pub become_user: Option<String>,
    pub mark: Option<Mark>,
}

impl Presence {
    /// No host: what a kernel shows before its first `%login`.
    pub fn nobody() -> Presence {
        Presence {
            state: State::NotLoggedIn,
            target: None,
            user: None,
            host: None,
            become_user: None,
            mark: None,
        }
    }

    /// `root@10.0.0.5 (db1)`: user and host, then the name the user gave when it says
    /// something the host does not (an alias).
    pub fn label(&self) -> String {
        let Some(target) = &self.target else {
            return "not logged in".into();
        };
        let host = self.host.as_deref().unwrap_or("");
        let bare = target.rsplit_once('@').map_or(target.as_str(), |(_, h)| h);
        let mut label = match &self.user {
            Some(u) if !host.is_empty() => format!("{u}@{host}"),
            _ => target.clone(),
        };
        if !host.is_empty() && bare != host {
            label.push_str(&format!(" ({bare})"));
        }
        if let Some(b) = &self.become_user {
            label.push_str(&format!(" as {b}"));
        }
        label
    }

    /// The comm message a frontend reads (README, "The host in sight").
    pub fn to_json(&self) -> Value {
        json!({
            "version": 1,
            "state": self.state.name(),
            "target": self.target,
            "user": self.user,
            "host": self.host,
            "become": self.become_user,
            "label": self.label(),
            "mark": self.mark.as_ref().map(|m| json!({
                "name": m.name,
                "colour": m.colour.name(),
                "css": m.colour.css(),
            })),
        })
    }
}

impl Engine {
    /// The mark of the host `target` (the name given to `%login`) resolved to `host`.
    pub(crate) fn mark_of(&self, target: &str, host: &str) -> Option<Mark> {
        let st = self.state();
        st.marks
            .rules
            .find(&marks::host_names(target, host))
            .map(|(m, _)| m.clone())
    }

    /// Where the kernel is now. Cheap (one lock, no I/O): the kernel calls it often to see
    /// whether anything changed.
    pub fn presence(&self) -> Presence {
        let connecting = self.logging_in();
        let st = self.state();
        let mark_of = |target: &str, host: &str| {
            st.marks
                .rules
                .find(&marks::host_names(target, host))
                .map(|(m, _)| m.clone())
        };
        if let Some((name, reconnect)) = connecting {
            // Until it connects, the host is known by the name given.
            let bare = name.rsplit_once('@').map_or(name.as_str(), |(_, h)| h);
            return Presence {
                state: if reconnect {
                    State::Reconnecting
                } else {
                    State::Connecting
                },
                mark: mark_of(&name, bare),
                user: name.rsplit_once('@').map(|(u, _)| u.to_owned()),
                host: Some(bare.to_owned()),
                target: Some(name),
                become_user: None,
            };
        }
        let (Some(name), Some(h)) = (st.hosts.current_name(), st.hosts.current()) else {
            return Presence::nobody();
        };
        let info = h.target.info();
        Presence {
            state: state_of(h),
            mark: mark_of(name, &info.host),
            target: Some(name.to_owned()),
            user: Some(info.user),
            host: Some(info.host),
            become_user: h.become_user.clone(),
        }
    }
}

fn state_of(h: &Host) -> State {
    match h.condition() {
        Condition::Reading => State::Reading,
        Condition::Ready => State::Connected,
        Condition::Failed => State::Failed,
        Condition::Lost => State::Lost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marks::Colour;

    fn at(target: &str, user: &str, host: &str) -> Presence {
        Presence {
            state: State::Connected,
            target: Some(target.into()),
            user: Some(user.into()),
            host: Some(host.into()),
            become_user: None,
            mark: None,
        }
    }

    #[test]
    fn the_label_names_user_host_and_an_alias() {
        assert_eq!(at("web1", "root", "web1").label(), "root@web1");
        assert_eq!(at("ops@db1", "ops", "db1").label(), "ops@db1");
        assert_eq!(at("db1", "root", "10.0.0.5").label(), "root@10.0.0.5 (db1)");
        let mut p = at("local", "root", "box");
        p.become_user = Some("postgres".into());
        assert_eq!(p.label(), "root@box (local) as postgres");
        assert_eq!(Presence::nobody().label(), "not logged in");
    }

    #[test]
    fn the_message_carries_every_fact_and_the_mark() {
        let mut p = at("prod-db", "root", "10.0.0.5");
        p.mark = Some(Mark {
            name: "production".into(),
            colour: Colour::Red,
        });
        let v = p.to_json();
        assert_eq!(v["version"], 1);
        assert_eq!(v["state"], "connected");
        assert_eq!(v["target"], "prod-db");
        assert_eq!(v["label"], "root@10.0.0.5 (prod-db)");
        assert_eq!(v["mark"]["name"], "production");
        assert_eq!(v["mark"]["colour"], "red");
        assert_eq!(v["mark"]["css"], Colour::Red.css());
        assert!(v["become"].is_null());
    }
}
