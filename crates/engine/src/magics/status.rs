//! `%status` and `%hosts`: where cells run, as whom, in which state, with which options.

use super::magic::{Magic, Spec};
use crate::marks::{self, Source};
use crate::session::Engine;

pub(super) const STATUS: Spec = Spec {
    name: "status",
    usage: "%status",
    description: "show the target, its mark, user, working directory, connection state and shell",
    parse: |a| a.none().map(|()| Magic::Status),
};

pub(super) const HOSTS: Spec = Spec {
    name: "hosts",
    usage: "%hosts",
    description: "list the targets logged in to, with their state",
    parse: |a| a.none().map(|()| Magic::Hosts),
};

impl Engine {
    pub(super) fn status_text(&self) -> String {
        let st = self.state();
        let set = &st.settings;
        let opts = format!(
            "strict: {} · timeout: {} · header: {} · terminal: {}x{}\n",
            if set.strict { "on" } else { "off" },
            set.timeout
                .map(|t| format!("{} s", t.as_secs()))
                .unwrap_or_else(|| "off".into()),
            if set.header { "on" } else { "off" },
            set.cols,
            set.rows
        );
        let Some(h) = st.hosts.current() else {
            return format!("target: none ({})\n{opts}", crate::failure::HOW_TO_LOGIN);
        };
        let i = h.target.info();
        let c = &h.context;
        let mark = match st.marks.rules.find(&marks::host_names(&i.name, &i.host)) {
            Some((m, src)) => format!(
                "mark: {} ({}, from {})\n",
                m.name,
                m.colour.name(),
                match src {
                    Source::File => "your marks file",
                    Source::Session => "%mark",
                }
            ),
            None => String::new(),
        };
        format!(
            "target: {}\nhost: {}{}\n{mark}user: {}\ncwd: {}\nstate: {} since {}\nshell: {}\ncontext: {:.1} KiB ({} variables, {} functions, {} aliases)\n{opts}",
            i.name,
            i.host,
            i.address.map(|a| format!(" ({a})")).unwrap_or_default(),
            i.user,
            c.cwd_lossy(),
            if i.connected {
                "connected"
            } else {
                "disconnected"
            },
            i.since.format("%Y-%m-%d %H:%M:%S UTC"),
            h.shell,
            c.size() as f64 / 1024.0,
            c.vars.len(),
            c.functions.len(),
            c.aliases.len(),
        )
    }

    pub(super) fn hosts_text(&self) -> String {
        let st = self.state();
        if st.hosts.is_empty() {
            return format!("no hosts: {}\n", crate::failure::HOW_TO_LOGIN);
        }
        st.hosts
            .iter()
            .map(|(name, h)| {
                let i = h.target.info();
                let mark = st
                    .marks
                    .rules
                    .find(&marks::host_names(name, &i.host))
                    .map(|(m, _)| format!(" [{}]", m.name))
                    .unwrap_or_default();
                format!(
                    "{} {name}{mark}: {}@{} · {} · {}\n",
                    if st.hosts.current_name() == Some(name.as_str()) {
                        "*"
                    } else {
                        " "
                    },
                    i.user,
                    i.host,
                    if i.connected {
                        "connected"
                    } else {
                        "disconnected"
                    },
                    h.context.cwd_lossy()
                )
            })
            .collect()
    }
}
