//! Patterns from Ansible's "Patterns: targeting hosts and groups" over the inventory of
//! its "How to build your inventory", and the algebra of the operators as properties.

use proptest::prelude::*;

use super::*;
use crate::inventory::tests::DOCS_YAML;
use crate::inventory::{Format, Inventory, parse};

fn docs() -> Inventory {
    parse(DOCS_YAML, "hosts.yml", Format::Yaml).unwrap()
}

fn sel(inv: &Inventory, pattern: &str) -> Vec<String> {
    select(inv, pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .hosts
        .into_iter()
        .map(|h| h.trim_end_matches(".example.com").to_owned())
        .collect()
}

#[test]
fn the_docs_patterns_select_what_ansible_selects() {
    let inv = docs();
    let everyone = ["mail", "foo", "bar", "one", "two", "three"];
    assert_eq!(sel(&inv, "all"), everyone);
    assert_eq!(sel(&inv, "*"), everyone);
    assert_eq!(sel(&inv, "*.example.com"), everyone);
    assert_eq!(sel(&inv, "webservers"), ["foo", "bar"]);
    assert_eq!(
        sel(&inv, "webservers:dbservers"),
        ["foo", "bar", "one", "two", "three"]
    );
    assert_eq!(
        sel(&inv, "webservers,dbservers"),
        ["foo", "bar", "one", "two", "three"]
    );
    assert_eq!(sel(&inv, "webservers:!east"), ["bar"]);
    assert_eq!(sel(&inv, "webservers:&west"), ["bar"]);
    assert_eq!(
        sel(&inv, "webservers:dbservers:&prod:!two.example.com"),
        ["foo", "one"]
    );
    assert_eq!(sel(&inv, "one.example.com"), ["one"]);
    assert_eq!(sel(&inv, "one*.com:dbservers"), ["one", "two", "three"]);
    assert_eq!(sel(&inv, "~(one|two)\\.example"), ["one", "two"]);
    assert_eq!(sel(&inv, "!east"), ["mail", "bar", "three"]);
    assert_eq!(sel(&inv, "prod"), ["foo", "one", "two"]);
    assert_eq!(sel(&inv, "ungrouped"), ["mail"]);
}

#[test]
fn operators_apply_unions_then_and_then_not_whatever_the_order() {
    let inv = docs();
    for p in [
        "webservers:dbservers:&prod:!one.example.com",
        "!one.example.com:&prod:webservers:dbservers",
        "&prod,!one.example.com,dbservers,webservers",
    ] {
        let mut got = sel(&inv, p);
        got.sort();
        assert_eq!(got, ["foo", "two"], "{p}");
    }
}

#[test]
fn subscripts_follow_ansibles_slices() {
    let inv = docs();
    assert_eq!(sel(&inv, "dbservers[0]"), ["one"]);
    assert_eq!(sel(&inv, "dbservers[-1]"), ["three"]);
    assert_eq!(sel(&inv, "dbservers[0:1]"), ["one", "two"]);
    assert_eq!(sel(&inv, "dbservers[1:]"), ["two", "three"]);
    assert_eq!(sel(&inv, "dbservers[1:0]"), ["two"]);
    assert_eq!(sel(&inv, "dbservers[0:9]"), ["one", "two", "three"]);
    assert_eq!(
        sel(&inv, "dbservers[0:4]:webservers[0]"),
        ["one", "two", "three", "foo"]
    );
    let err = select(&inv, "dbservers[3]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no host at dbservers[3]: it selects 3 host(s), counted from 0"
    );
    assert!(select(&inv, "dbservers[5:9]").is_err());
}

#[test]
fn a_regex_rust_cannot_read_is_an_error_not_a_mismatch() {
    let inv = docs();
    for p in ["~(?<=x)one", "~(?=one)", "~(o)\\1"] {
        let err = select(&inv, p).unwrap_err();
        assert!(matches!(err, PatternError::Regex { .. }), "{p}: {err}");
        let msg = err.to_string();
        assert!(msg.contains("look-around and backreferences"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}

#[test]
fn selecting_nothing_lists_what_exists() {
    let inv = docs();
    let msg = select(&inv, "webserver").unwrap_err().to_string();
    assert_eq!(
        msg,
        "\"webserver\" selects no host. Groups: all, ungrouped, webservers, dbservers, east, \
         west, prod, test. Hosts: mail.example.com, foo.example.com, bar.example.com, \
         one.example.com, two.example.com, three.example.com."
    );
    let big = Inventory::from_hosts((0..500).map(|i| format!("h{i}")));
    let msg = select(&big, "web").unwrap_err().to_string();
    assert!(msg.ends_with("h8, h9, … (500 in all)."), "{msg}");
    let empty = Inventory::from_hosts(Vec::<String>::new());
    let msg = select(&empty, "all").unwrap_err().to_string();
    assert!(msg.contains("no hosts: load one with %inventory"), "{msg}");
    // A term that matches nothing is reported, the rest still applies.
    let s = select(&inv, "nosuch:webservers").unwrap();
    assert_eq!(s.unmatched, ["nosuch"]);
    assert_eq!(s.hosts.len(), 2);
    assert!(matches!(select(&inv, " , "), Err(PatternError::Empty)));
}

#[test]
fn the_logged_in_hosts_are_the_inventory_when_none_is_loaded() {
    let inv = Inventory::from_hosts(["web1", "web2", "db1"]);
    assert_eq!(sel(&inv, "all"), ["web1", "web2", "db1"]);
    assert_eq!(sel(&inv, "web*:!web2"), ["web1"]);
    assert!(select(&inv, "prod-db").is_err());
}

/// A random inventory: hosts h0..h{n}, groups g0..g{m}, each host in some groups, each
/// group possibly inside earlier ones (no loops), written as INI.
fn inventory() -> impl Strategy<Value = Inventory> {
    (1usize..12, 1usize..6)
        .prop_flat_map(|(hosts, groups)| {
            (
                Just(hosts),
                Just(groups),
                proptest::collection::vec(proptest::collection::vec(any::<bool>(), groups), hosts),
                proptest::collection::vec(proptest::option::of(0usize..groups), groups),
            )
        })
        .prop_map(|(hosts, groups, member, parent)| {
            // Every host first, before any section (so in `ungrouped` unless in a group).
            let mut text: String = (0..hosts).map(|h| format!("h{h}\n")).collect();
            for g in 0..groups {
                text.push_str(&format!("[g{g}]\n"));
                for (h, m) in member.iter().enumerate().take(hosts) {
                    if m[g] {
                        text.push_str(&format!("h{h}\n"));
                    }
                }
            }
            for (g, p) in parent.iter().enumerate() {
                if let Some(p) = p.filter(|&p| p < g) {
                    text.push_str(&format!("[g{p}:children]\ng{g}\n"));
                }
            }
            parse(&text, "random", Format::Ini).unwrap()
        })
}

fn term() -> impl Strategy<Value = String> {
    prop_oneof![
        (0usize..6).prop_map(|g| format!("g{g}")),
        (0usize..12).prop_map(|h| format!("h{h}")),
        Just("all".to_owned()),
        Just("h1*".to_owned()),
        Just("~g[0-2]".to_owned()),
        (0usize..6, -3i64..3).prop_map(|(g, i)| format!("g{g}[{i}]")),
    ]
}

/// The selected set, empty for an error.
fn set(inv: &Inventory, pattern: &str) -> std::collections::BTreeSet<String> {
    select(inv, pattern)
        .map(|s| s.hosts.into_iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

proptest! {
    #[test]
    fn union_intersection_exclusion_behave(inv in inventory(), a in term(), b in term(), c in term()) {
        // A subscript beyond its hosts is an error for the whole pattern, as in Ansible.
        let out_of_range = |t: &str| matches!(select(&inv, t), Err(PatternError::Subscript { .. }));
        prop_assume!(!out_of_range(&a) && !out_of_range(&b));
        let sa = set(&inv, &a);
        let sb = set(&inv, &b);
        let union = set(&inv, &format!("{a}:{b}"));
        let comma = set(&inv, &format!("{a},{b}"));
        let both = set(&inv, &format!("{a}:&{b}"));
        let but = set(&inv, &format!("{a}:!{b}"));
        prop_assert!(union.is_superset(&sa) && union.is_superset(&sb));
        prop_assert_eq!(&union, &comma);
        prop_assert!(both.is_subset(&sa) && both.is_subset(&sb));
        prop_assert!(but.is_disjoint(&sb) && but.is_subset(&sa));
        let orders = [
            format!("{a}:&{b}:!{c}"),
            format!("!{c}:{a}:&{b}"),
            format!("&{b}:!{c}:{a}"),
        ];
        let first = select(&inv, &orders[0]).map(|s| s.hosts).ok();
        for p in &orders[1..] {
            prop_assert_eq!(&select(&inv, p).map(|s| s.hosts).ok(), &first, "{}", p);
        }
    }

    #[test]
    fn results_have_each_host_once(inv in inventory(), a in term(), b in term()) {
        if let Ok(s) = select(&inv, &format!("{a}:{b}")) {
            let unique: std::collections::HashSet<_> = s.hosts.iter().collect();
            prop_assert_eq!(unique.len(), s.hosts.len());
        }
    }
}
