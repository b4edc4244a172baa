//! The inventory under construction, as Ansible's parsers fill `InventoryData`: groups and
//! hosts added as they are met, then `finish` does what `reconcile_inventory` does (groups
//! without a parent go into `all`, hosts in no group into `ungrouped`). Every addition is
//! counted against [`crate::limits`]; password variables are dropped here, where every
//! parser's variables pass.

use std::collections::{HashSet, VecDeque};

use super::address::split_port;
use super::error::{InventoryError, Limit, Place};
use super::model::{ALL, Group, GroupId, Host, HostId, Inventory, SECRET_VARS, UNGROUPED};
use super::range;
use crate::limits::{MAX_ENTRIES, MAX_GROUPS, MAX_HOSTS};

pub(crate) struct Builder {
    inv: Inventory,
    /// Host entries and variable assignments so far (see `MAX_ENTRIES`).
    entries: usize,
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            inv: Inventory::empty(),
            entries: 0,
        }
    }

    pub fn notes(&mut self) -> &mut super::model::Notes {
        &mut self.inv.notes
    }

    fn count(&mut self, place: &Place) -> Result<(), InventoryError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(limit(place, Limit::Entries(MAX_ENTRIES)));
        }
        Ok(())
    }

    pub fn group(&self, name: &str) -> Option<GroupId> {
        self.inv.group_ids.get(name).copied()
    }

    pub fn add_group(&mut self, name: &str, place: &Place) -> Result<GroupId, InventoryError> {
        if let Some(id) = self.group(name) {
            return Ok(id);
        }
        if self.inv.groups.len() >= MAX_GROUPS {
            return Err(limit(place, Limit::Groups(MAX_GROUPS)));
        }
        let id = self.inv.groups.len();
        self.inv.group_ids.insert(name.to_owned(), id);
        self.inv.groups.push(Group {
            name: name.to_owned(),
            ..Group::default()
        });
        Ok(id)
    }

    /// Adds the host if new, and puts it in `group` if not already there.
    pub fn add_host(
        &mut self,
        name: &str,
        group: GroupId,
        place: &Place,
    ) -> Result<HostId, InventoryError> {
        self.count(place)?;
        let id = match self.inv.host_ids.get(name) {
            Some(&id) => id,
            None => {
                if self.inv.hosts.len() >= MAX_HOSTS {
                    return Err(limit(place, Limit::Hosts(MAX_HOSTS)));
                }
                let id = self.inv.hosts.len();
                self.inv.host_ids.insert(name.to_owned(), id);
                self.inv.hosts.push(Host {
                    name: name.to_owned(),
                    ..Host::default()
                });
                id
            }
        };
        let host = &mut self.inv.hosts[id];
        if !host.groups.contains(&group) {
            host.groups.push(group);
            self.inv.groups[group].hosts.push(id);
        }
        Ok(id)
    }

    /// A host entry as both parsers read it: `name`, `name:port` or a range such as
    /// `web[01:50]:2222`, each host put in `group` with the port (as `ansible_port`) and
    /// then `vars`.
    pub fn add_entry(
        &mut self,
        entry: &str,
        group: GroupId,
        vars: &[(&str, String)],
        place: &Place,
    ) -> Result<(), InventoryError> {
        let (pattern, port) = split_port(entry);
        let names = if range::has_range(pattern) {
            range::expand(pattern).map_err(|problem| InventoryError::Range {
                place: place.clone(),
                text: pattern.to_owned(),
                problem,
            })?
        } else {
            vec![pattern.to_owned()]
        };
        for name in names {
            let host = self.add_host(&name, group, place)?;
            if let Some(port) = port {
                self.set_host_var(host, "ansible_port", port.to_owned(), place)?;
            }
            for (key, value) in vars {
                self.set_host_var(host, key, value.clone(), place)?;
            }
        }
        Ok(())
    }

    /// Puts `child` inside `parent`; refuses a loop, as Ansible does.
    pub fn add_child(
        &mut self,
        parent: GroupId,
        child: GroupId,
        place: &Place,
    ) -> Result<(), InventoryError> {
        self.count(place)?;
        if self.inv.groups[parent].children.contains(&child) {
            return Ok(());
        }
        if parent == child || self.is_inside(parent, child) {
            return Err(InventoryError::Cycle {
                place: place.clone(),
                parent: self.inv.groups[parent].name.clone(),
                child: self.inv.groups[child].name.clone(),
            });
        }
        self.inv.groups[parent].children.push(child);
        self.inv.groups[child].parents.push(parent);
        Ok(())
    }

    /// Whether `inner` is `outer` or a group inside it, at any depth.
    fn is_inside(&self, inner: GroupId, outer: GroupId) -> bool {
        let mut seen = HashSet::from([outer]);
        let mut queue = VecDeque::from([outer]);
        while let Some(g) = queue.pop_front() {
            if g == inner {
                return true;
            }
            for &c in &self.inv.groups[g].children {
                if seen.insert(c) {
                    queue.push_back(c);
                }
            }
        }
        false
    }

    pub fn set_group_var(
        &mut self,
        group: GroupId,
        key: &str,
        value: String,
        place: &Place,
    ) -> Result<(), InventoryError> {
        if self.keep(key, place)? {
            self.inv.groups[group].vars.insert(key.to_owned(), value);
        }
        Ok(())
    }

    pub fn set_host_var(
        &mut self,
        host: HostId,
        key: &str,
        value: String,
        place: &Place,
    ) -> Result<(), InventoryError> {
        if self.keep(key, place)? {
            self.inv.hosts[host].vars.insert(key.to_owned(), value);
        }
        Ok(())
    }

    /// Variables from `group_vars/NAME` for the group, if it exists.
    pub fn group_file_vars(&mut self, name: &str) -> Option<&mut super::model::Vars> {
        let id = self.group(name)?;
        Some(&mut self.inv.groups[id].file_vars)
    }

    /// Variables from `host_vars/NAME` for the host, if it exists.
    pub fn host_file_vars(&mut self, name: &str) -> Option<&mut super::model::Vars> {
        let id = *self.inv.host_ids.get(name)?;
        Some(&mut self.inv.hosts[id].file_vars)
    }

    /// Names of every group and host, for the loader's `group_vars/` and `host_vars/`.
    pub fn names(&self) -> (Vec<String>, Vec<String>) {
        (
            self.inv.groups.iter().map(|g| g.name.clone()).collect(),
            self.inv.hosts.iter().map(|h| h.name.clone()).collect(),
        )
    }

    /// Counts a variable; false (and counted in the notes) for a password variable.
    pub fn keep(&mut self, key: &str, place: &Place) -> Result<bool, InventoryError> {
        self.count(place)?;
        if SECRET_VARS.contains(&key) {
            self.inv.notes.secrets_dropped += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// Ansible's `reconcile_inventory`, then the depths and the order of `all`.
    pub fn finish(mut self) -> Inventory {
        let inv = &mut self.inv;
        for g in 0..inv.groups.len() {
            if g != ALL && inv.groups[g].parents.is_empty() {
                inv.groups[ALL].children.push(g);
                inv.groups[g].parents.push(ALL);
            }
        }
        // A host in no group but `all`/`ungrouped` belongs to `ungrouped`; one in another
        // group does not (the INI parser puts hosts before any section there first).
        for h in 0..inv.hosts.len() {
            let in_other = inv.hosts[h]
                .groups
                .iter()
                .any(|&g| g != ALL && g != UNGROUPED);
            let in_ungrouped = inv.hosts[h].groups.contains(&UNGROUPED);
            if in_other && in_ungrouped {
                inv.hosts[h].groups.retain(|&g| g != UNGROUPED);
                inv.groups[UNGROUPED].hosts.retain(|&x| x != h);
            } else if !in_other && !in_ungrouped {
                inv.hosts[h].groups.push(UNGROUPED);
                inv.groups[UNGROUPED].hosts.push(h);
            }
        }
        set_depths(&mut inv.groups);
        inv.order = inv.group_host_ids(ALL);
        self.inv
    }
}

/// Each group's depth: the longest path from `all`, computed in topological order (Kahn),
/// without recursion, since a chain of groups can be as long as the group limit.
fn set_depths(groups: &mut [Group]) {
    let mut waiting: Vec<usize> = groups.iter().map(|g| g.parents.len()).collect();
    let mut queue: VecDeque<GroupId> = (0..groups.len()).filter(|&g| waiting[g] == 0).collect();
    while let Some(g) = queue.pop_front() {
        let depth = groups[g].depth;
        for i in 0..groups[g].children.len() {
            let c = groups[g].children[i];
            groups[c].depth = groups[c].depth.max(depth + 1);
            waiting[c] -= 1;
            if waiting[c] == 0 {
                queue.push_back(c);
            }
        }
    }
}

pub(crate) fn limit(place: &Place, limit: Limit) -> InventoryError {
    InventoryError::Limit {
        file: place.file.clone(),
        limit,
    }
}
