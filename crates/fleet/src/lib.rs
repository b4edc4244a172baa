//! Many hosts at once, the pure parts: which hosts (Ansible inventories and host
//! patterns), and what they said (host lists folded as ClusterShell's `clubak` does,
//! identical outputs folded into one block, the summary and the live progress line).
//!
//! No network, no clock, no tokio: durations are measured by the caller and passed in.
//! Only `inventory::load` reads files (an inventory and its `group_vars/`, `host_vars/`).

pub mod fold;
pub mod inventory;
pub mod limits;
pub mod pattern;
pub mod schedule;
