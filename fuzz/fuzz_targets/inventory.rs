//! Inventories and host patterns (`fleet::inventory`, `fleet::pattern`) on arbitrary text,
//! and host list folding on the names found: nothing may panic, and what comes out holds.
//!
//! Input: the inventory text, then optionally a NUL and a host pattern (without a NUL, the
//! text's first line is the pattern). The text is read as INI, as YAML and by guessing;
//! for each inventory that parses:
//! 1. every host has merged variables and a connection (or a port error), every group
//!    its hosts, and the hosts of `all` are each listed once;
//! 2. the pattern, and `all`, select hosts of the inventory, each once;
//! 3. the host names fold into a host list that expands back to the same set.
#![no_main]

use std::collections::BTreeSet;

use fleet::fold::hostlist;
use fleet::inventory::{Format, parse};
use fleet::pattern::select;
use libfuzzer_sys::fuzz_target;

/// Hosts checked one by one per inventory: a range can make 100 000.
const CHECKED: usize = 200;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (inventory, pattern) = match text.split_once('\0') {
        Some((inv, pat)) => (inv, pat),
        None => (&*text, text.lines().next().unwrap_or_default()),
    };
    for format in [Format::Ini, Format::Yaml, Format::Auto] {
        let Ok(inv) = parse(inventory, "fuzz", format) else {
            continue;
        };

        // 1. The inventory is consistent.
        let hosts: Vec<&str> = inv.hosts().collect();
        let unique: BTreeSet<&str> = hosts.iter().copied().collect();
        assert_eq!(unique.len(), hosts.len(), "a host listed twice in all");
        for host in hosts.iter().take(CHECKED) {
            assert!(inv.has_host(host));
            assert!(inv.vars(host).is_some());
            let _ = inv.connection(host);
            assert!(inv.host_groups(host).is_some_and(|g| g.first() == Some(&"all")));
        }
        for group in inv.groups().take(CHECKED) {
            for host in inv.group_hosts(group).expect("a listed group has hosts") {
                assert!(inv.has_host(host), "group {group} has an unknown host");
            }
        }

        // 2. Patterns select hosts of the inventory, each once.
        for p in [pattern, "all", "*:!ungrouped", "~.*[0-9]"] {
            if let Ok(selection) = select(&inv, p) {
                let set: BTreeSet<&str> = selection.hosts.iter().copied().collect();
                assert_eq!(set.len(), selection.hosts.len(), "{p:?} selects a host twice");
                assert!(set.iter().all(|h| inv.has_host(h)), "{p:?} selects an unknown host");
            }
        }

        // 3. Host names fold and expand back.
        let names: BTreeSet<String> = hosts
            .iter()
            .filter(|h| !h.is_empty() && !h.contains(['[', ']', ',']))
            .take(CHECKED)
            .map(|h| (*h).to_owned())
            .collect();
        let folded = hostlist::fold(&names);
        let back: BTreeSet<String> = hostlist::expand(&folded)
            .expect("a folded list expands")
            .into_iter()
            .collect();
        assert_eq!(back, names, "{folded} does not expand to what was folded");
    }
});
