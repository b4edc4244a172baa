//! The inventory as Ansible's `InventoryData` holds it once parsed: hosts and groups in the
//! order they were declared, the implicit groups `all` and `ungrouped`, each group's hosts
//! and children, and variables where they were written. Variables are merged per host only
//! when asked for (`vars`, `connection`), so a large inventory costs nothing for hosts no
//! cell runs on.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::error::InventoryError;

/// Variables by name; every value kept as text (the host's `{NAME}` params).
pub type Vars = BTreeMap<String, String>;

/// The variables that hold passwords. Dropped where they are read (counted, never kept), so
/// no display, error or log can show one: sshpty asks for passwords itself.
pub const SECRET_VARS: &[&str] = &[
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
    "ansible_become_pass",
    "ansible_become_password",
    "ansible_sudo_pass",
    "ansible_sudo_password",
];

pub(crate) type HostId = usize;
pub(crate) type GroupId = usize;
pub(crate) const ALL: GroupId = 0;
pub(crate) const UNGROUPED: GroupId = 1;

#[derive(Debug, Clone, Default)]
pub(crate) struct Host {
    pub name: String,
    /// Groups the inventory puts the host in directly, in order.
    pub groups: Vec<GroupId>,
    /// Variables from the inventory file.
    pub vars: Vars,
    /// Variables from `host_vars/NAME`.
    pub file_vars: Vars,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Group {
    pub name: String,
    pub hosts: Vec<HostId>,
    pub children: Vec<GroupId>,
    pub parents: Vec<GroupId>,
    pub vars: Vars,
    pub file_vars: Vars,
    /// Longest path from `all` (Ansible's `depth`): deeper groups' variables win.
    pub depth: usize,
}

/// What loading left out, to be told to the user (counts and names, never values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notes {
    /// Password variables dropped (`ansible_password`, `ansible_become_pass`, …).
    pub secrets_dropped: usize,
    /// Vault-encrypted vars files not read (`$ANSIBLE_VAULT` header).
    pub vault_files: Vec<String>,
    /// Variables whose value is vault-encrypted (`!vault |`), not kept.
    pub vault_values: usize,
    /// Keys of a YAML group other than `hosts`, `children` and `vars` (Ansible warns and
    /// skips them too), as `file: group.key`.
    pub ignored_keys: Vec<String>,
}

impl Notes {
    /// One line per kind of thing left out; empty when nothing was.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.secrets_dropped > 0 {
            out.push(format!(
                "{} password variable(s) (ansible_password, ansible_become_pass, …) ignored: \
                 sshpty asks for passwords itself",
                self.secrets_dropped
            ));
        }
        if !self.vault_files.is_empty() {
            out.push(format!(
                "vault-encrypted file(s) not read: {}",
                self.vault_files.join(", ")
            ));
        }
        if self.vault_values > 0 {
            out.push(format!(
                "{} vault-encrypted variable(s) (!vault) ignored",
                self.vault_values
            ));
        }
        if !self.ignored_keys.is_empty() {
            out.push(format!(
                "unexpected key(s) ignored (a group has hosts, children and vars): {}",
                self.ignored_keys.join(", ")
            ));
        }
        out
    }
}

/// How to reach a host, from its resolved variables as Ansible's ssh connection reads them:
/// of `ansible_host` and `ansible_ssh_host` the latter wins when both are set (the later
/// name in the plugin's list), likewise for port, user and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The inventory name.
    pub name: String,
    /// Where to connect: `ansible_host`, or the name.
    pub address: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub identity_file: Option<String>,
}

/// A loaded inventory. Built by [`crate::inventory::parse`], [`crate::inventory::load`] or
/// [`Inventory::from_hosts`].
#[derive(Debug, Clone)]
pub struct Inventory {
    pub(crate) hosts: Vec<Host>,
    pub(crate) groups: Vec<Group>,
    pub(crate) host_ids: HashMap<String, HostId>,
    pub(crate) group_ids: HashMap<String, GroupId>,
    /// The hosts of `all`, in Ansible's order: computed once.
    pub(crate) order: Vec<HostId>,
    pub(crate) notes: Notes,
}

impl Inventory {
    /// An empty inventory with Ansible's implicit groups: `all`, with `ungrouped` inside.
    pub(crate) fn empty() -> Inventory {
        let mut inv = Inventory {
            hosts: Vec::new(),
            groups: Vec::new(),
            host_ids: HashMap::new(),
            group_ids: HashMap::new(),
            order: Vec::new(),
            notes: Notes::default(),
        };
        for name in ["all", "ungrouped"] {
            inv.group_ids.insert(name.to_owned(), inv.groups.len());
            inv.groups.push(Group {
                name: name.to_owned(),
                ..Group::default()
            });
        }
        inv.groups[ALL].children.push(UNGROUPED);
        inv.groups[UNGROUPED].parents.push(ALL);
        inv
    }

    /// The inventory sshpty uses when none is loaded: the given hosts (those the notebook
    /// logged in to), all in `ungrouped`, in the given order, duplicates once. So `%on all`
    /// reaches those and nothing of `~/.ssh/config` by surprise.
    pub fn from_hosts<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Inventory {
        let mut inv = Inventory::empty();
        for name in names {
            let name = name.as_ref();
            if inv.host_ids.contains_key(name) {
                continue;
            }
            let id = inv.hosts.len();
            inv.host_ids.insert(name.to_owned(), id);
            inv.hosts.push(Host {
                name: name.to_owned(),
                groups: vec![UNGROUPED],
                ..Host::default()
            });
            inv.groups[UNGROUPED].hosts.push(id);
        }
        inv.order = inv.group_host_ids(ALL);
        inv
    }

    /// Every host, in Ansible's order for `all`.
    pub fn hosts(&self) -> impl ExactSizeIterator<Item = &str> {
        self.order.iter().map(|&h| self.hosts[h].name.as_str())
    }

    pub fn has_host(&self, name: &str) -> bool {
        self.host_ids.contains_key(name)
    }

    /// Every group, `all` and `ungrouped` first, then in the order they were declared.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = &str> {
        self.groups.iter().map(|g| g.name.as_str())
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.group_ids.contains_key(name)
    }

    /// The hosts of a group and of the groups inside it, in Ansible's order (the group's
    /// own hosts, then its children's, level by level), or `None` for no such group.
    pub fn group_hosts(&self, group: &str) -> Option<Vec<&str>> {
        let id = *self.group_ids.get(group)?;
        Some(
            self.group_host_ids(id)
                .into_iter()
                .map(|h| self.hosts[h].name.as_str())
                .collect(),
        )
    }

    /// The groups a host is in, directly or through a group inside another, sorted as
    /// Ansible applies their variables (shallow first); `all` first.
    pub fn host_groups(&self, host: &str) -> Option<Vec<&str>> {
        let id = *self.host_ids.get(host)?;
        Some(
            self.sorted_groups_of(id)
                .into_iter()
                .map(|g| self.groups[g].name.as_str())
                .collect(),
        )
    }

    /// What loading left out.
    pub fn notes(&self) -> &Notes {
        &self.notes
    }

    /// A host's variables merged as Ansible does (later wins): `all`'s from the inventory,
    /// other groups' from the inventory (shallow before deep; equal depth by
    /// `ansible_group_priority`, then name), `group_vars/all`, other `group_vars/` in the
    /// same order, the host's from the inventory, `host_vars/`.
    pub fn vars(&self, host: &str) -> Option<Vars> {
        let id = *self.host_ids.get(host)?;
        let groups = self.sorted_groups_of(id);
        let mut out = Vars::new();
        for layer in groups.iter().map(|&g| &self.groups[g].vars) {
            out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        for layer in groups.iter().map(|&g| &self.groups[g].file_vars) {
            out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let host = &self.hosts[id];
        for layer in [&host.vars, &host.file_vars] {
            out.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Some(out)
    }

    /// How to reach a host (see [`Connection`]).
    pub fn connection(&self, host: &str) -> Result<Connection, InventoryError> {
        let vars = self
            .vars(host)
            .ok_or_else(|| InventoryError::UnknownHost(host.to_owned()))?;
        let last = |names: &[&'static str]| {
            names
                .iter()
                .rev()
                .find_map(|n| vars.get(*n).map(|v| (*n, v.clone())))
        };
        let port = match last(&["ansible_port", "ansible_ssh_port"]) {
            None => None,
            Some((variable, value)) => Some(
                value
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| InventoryError::Port {
                        host: host.to_owned(),
                        variable,
                        value: value.clone(),
                    })?,
            ),
        };
        Ok(Connection {
            name: host.to_owned(),
            address: last(&["ansible_host", "ansible_ssh_host"])
                .map_or_else(|| host.to_owned(), |(_, v)| v),
            port,
            user: last(&["ansible_user", "ansible_ssh_user"]).map(|(_, v)| v),
            identity_file: last(&["ansible_private_key_file", "ansible_ssh_private_key_file"])
                .map(|(_, v)| v),
        })
    }

    /// Host ids of a group, Ansible's `Group.get_hosts()`: breadth first over the group
    /// and its descendants, each group's own hosts in order, each host once.
    pub(crate) fn group_host_ids(&self, group: GroupId) -> Vec<HostId> {
        let mut seen_groups = HashSet::from([group]);
        let mut seen_hosts = HashSet::new();
        let mut queue = VecDeque::from([group]);
        let mut out = Vec::new();
        while let Some(g) = queue.pop_front() {
            for &h in &self.groups[g].hosts {
                if seen_hosts.insert(h) {
                    out.push(h);
                }
            }
            for &c in &self.groups[g].children {
                if seen_groups.insert(c) {
                    queue.push_back(c);
                }
            }
        }
        out
    }

    /// The host's groups with their ancestors, in the order their variables apply: `all`,
    /// then by (depth, `ansible_group_priority`, name).
    fn sorted_groups_of(&self, host: HostId) -> Vec<GroupId> {
        let mut seen = HashSet::new();
        let mut stack: Vec<GroupId> = self.hosts[host].groups.clone();
        while let Some(g) = stack.pop() {
            if seen.insert(g) {
                stack.extend(&self.groups[g].parents);
            }
        }
        seen.insert(ALL);
        let mut groups: Vec<GroupId> = seen.into_iter().collect();
        groups.sort_by_key(|&g| {
            let group = &self.groups[g];
            (g != ALL, group.depth, self.priority(g), group.name.as_str())
        });
        groups
    }

    /// `ansible_group_priority` (default 1): among groups of equal depth, a higher one's
    /// variables apply later.
    fn priority(&self, group: GroupId) -> i64 {
        self.groups[group]
            .vars
            .get("ansible_group_priority")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(1)
    }
}
