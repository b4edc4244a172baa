//! Ansible inventories: INI and YAML files, `group_vars/` and `host_vars/` beside them,
//! ranges, the implicit groups `all` and `ungrouped`, variables merged per host as Ansible
//! merges them.
//!
//! Not implemented, on purpose or for now: dynamic inventories (executable scripts and
//! inventory plugins such as `aws_ec2` are refused, never run); vault-encrypted files and
//! `!vault` values (noted and skipped); Jinja2 templates in values (kept as written);
//! typed values (every value is text: `22`, `yes`, a list as JSON); `ansible.cfg` settings
//! (`host_pattern_mismatch`, `inventory_ignore_extensions`, ...); TOML inventories; the
//! implicit `localhost`; `group_vars/` beside a playbook (there is no playbook); Ansible's
//! check that a name is a valid hostname. Password variables (`ansible_password`,
//! `ansible_become_pass`, ...) are dropped when read and only counted.

mod address;
mod builder;
mod error;
mod ini;
mod load;
mod model;
pub mod range;
mod shlex;
mod source;
mod vars;
mod yaml;
mod yaml_tree;

pub(crate) use address::split_port as address_port;
pub use error::{IniProblem, InventoryError, Limit, Place, YamlProblem};
pub use load::load;
pub use model::{Connection, Inventory, Notes, SECRET_VARS, Vars};
pub use source::{Format, parse};

#[cfg(test)]
pub(crate) mod tests;
