//! Inventories from Ansible's documentation ("How to build your inventory"), and the
//! limits, refusals and precedence rules around them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::*;

fn ini(text: &str) -> Inventory {
    parse(text, "hosts", Format::Ini).unwrap()
}

fn yaml(text: &str) -> Inventory {
    parse(text, "hosts.yml", Format::Yaml).unwrap()
}

fn group(inv: &Inventory, name: &str) -> Vec<String> {
    inv.group_hosts(name)
        .unwrap()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn all(inv: &Inventory) -> Vec<&str> {
    inv.hosts().collect()
}

/// A throw-away directory under the system's temp dir, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("sshpty-fleet-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn file(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub(crate) const DOCS_INI: &str = "\
mail.example.com

[webservers]
foo.example.com
bar.example.com

[dbservers]
one.example.com
two.example.com
three.example.com
";

pub(crate) const DOCS_YAML: &str = "\
ungrouped:
  hosts:
    mail.example.com:
webservers:
  hosts:
    foo.example.com:
    bar.example.com:
dbservers:
  hosts:
    one.example.com:
    two.example.com:
    three.example.com:
east:
  hosts:
    foo.example.com:
    one.example.com:
    two.example.com:
west:
  hosts:
    bar.example.com:
    three.example.com:
prod:
  children:
    east:
test:
  children:
    west:
";

#[test]
fn the_docs_ini_example_has_its_groups_and_ungrouped_host() {
    let inv = ini(DOCS_INI);
    assert_eq!(
        all(&inv),
        [
            "mail.example.com",
            "foo.example.com",
            "bar.example.com",
            "one.example.com",
            "two.example.com",
            "three.example.com"
        ]
    );
    assert_eq!(group(&inv, "ungrouped"), ["mail.example.com"]);
    assert_eq!(
        group(&inv, "webservers"),
        ["foo.example.com", "bar.example.com"]
    );
    assert_eq!(
        inv.groups().collect::<Vec<_>>(),
        ["all", "ungrouped", "webservers", "dbservers"]
    );
}

#[test]
fn the_docs_yaml_example_nests_groups() {
    let inv = yaml(DOCS_YAML);
    assert_eq!(
        group(&inv, "prod"),
        ["foo.example.com", "one.example.com", "two.example.com"]
    );
    assert_eq!(
        group(&inv, "test"),
        ["bar.example.com", "three.example.com"]
    );
    assert_eq!(group(&inv, "ungrouped"), ["mail.example.com"]);
    assert_eq!(inv.hosts().len(), 6);
    assert_eq!(
        inv.host_groups("one.example.com").unwrap(),
        ["all", "dbservers", "prod", "east"]
    );
}

#[test]
fn ini_and_yaml_give_the_same_inventory() {
    let a = ini(DOCS_INI);
    let b = yaml(
        "all:\n  hosts:\n    mail.example.com:\n  children:\n    webservers:\n      hosts:\n        \
         foo.example.com:\n        bar.example.com:\n    dbservers:\n      hosts:\n        \
         one.example.com:\n        two.example.com:\n        three.example.com:\n",
    );
    assert_eq!(all(&a), all(&b));
    for g in ["ungrouped", "webservers", "dbservers"] {
        assert_eq!(group(&a, g), group(&b, g), "group {g}");
    }
}

#[test]
fn ranges_expand_as_ansible_does() {
    let inv =
        ini("[web]\nwww[01:50].example.com\n[db]\ndb-[a:f].example.com\n[odd]\nodd[1:10:2]\n");
    let web = group(&inv, "web");
    assert_eq!(web.len(), 50);
    assert_eq!(web[0], "www01.example.com");
    assert_eq!(web[49], "www50.example.com");
    assert_eq!(group(&inv, "db")[5], "db-f.example.com");
    assert_eq!(group(&inv, "odd"), ["odd1", "odd3", "odd5", "odd7", "odd9"]);
    let inv = yaml("webservers:\n  hosts:\n    www[01:50].example.com:\n");
    assert_eq!(group(&inv, "webservers").len(), 50);
    assert_eq!(
        range::expand("r[1:2]n[01:02]").unwrap(),
        ["r1n01", "r1n02", "r2n01", "r2n02"]
    );
    assert_eq!(range::expand("x[5:1]").unwrap(), Vec::<String>::new());
    assert_eq!(range::expand("x[:2]").unwrap(), ["x0", "x1", "x2"]);
}

#[test]
fn bad_ranges_say_what_is_wrong() {
    for (pattern, want) in [
        ("web[01:100]", "same width"),
        ("web[1:]", "give its end"),
        ("web[1:x]", "not a range bound"),
        ("web[1:5:0]", "not a range bound"),
        ("web[1:5", "without its ']'"),
        ("web[f:a]", "go up"),
    ] {
        let err = parse(&format!("[g]\n{pattern}\n"), "inv", Format::Ini).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(want), "{pattern}: {msg}");
        assert!(msg.contains("inv line 2"), "{msg}");
    }
}

#[test]
fn a_range_beyond_the_host_limit_is_refused_naming_it() {
    let err = parse("[g]\nweb[0:100000]\n", "inv", Format::Ini).unwrap_err();
    assert!(err.to_string().contains("more than 100000 hosts"), "{err}");
    assert!(parse("[g]\nweb[1:100000]\n", "inv", Format::Ini).is_ok());
    let err = parse("[g]\na[0:999]b[0:999]\n", "inv", Format::Ini).unwrap_err();
    assert!(err.to_string().contains("100000"), "{err}");
}

#[test]
fn host_lines_take_ports_and_quoted_variables() {
    let inv = ini("[targets]\n\
         jumper ansible_port=5555 ansible_host=192.0.2.50\n\
         other1.example.com     ansible_connection=ssh        ansible_user=myuser\n\
         badwolf.example.com:5309\n\
         tomcat3 mysecret=\"'03#pa33w0rd'\" motd=\"hello world\" # a comment\n");
    let c = inv.connection("jumper").unwrap();
    assert_eq!((c.address.as_str(), c.port), ("192.0.2.50", Some(5555)));
    let c = inv.connection("other1.example.com").unwrap();
    assert_eq!(c.user.as_deref(), Some("myuser"));
    assert_eq!(c.address, "other1.example.com");
    assert_eq!(
        inv.connection("badwolf.example.com").unwrap().port,
        Some(5309)
    );
    let vars = inv.vars("tomcat3").unwrap();
    assert_eq!(vars["mysecret"], "03#pa33w0rd");
    assert_eq!(vars["motd"], "hello world");
}

#[test]
fn variables_merge_all_then_parent_then_child_then_host() {
    let inv = ini("[atlanta]\nhost1 http_port=80\nhost2\n\
         [atlanta:vars]\nntp=atlanta\nlevel=child\n\
         [southeast:children]\natlanta\n\
         [southeast:vars]\nntp=southeast\nlevel=parent\nregion=se\n\
         [all:vars]\nntp=all\nlevel=all\nhttp_port=8080\nonly_all=1\n");
    let host1 = inv.vars("host1").unwrap();
    assert_eq!(host1["http_port"], "80");
    assert_eq!(host1["ntp"], "atlanta");
    assert_eq!(host1["region"], "se");
    assert_eq!(host1["only_all"], "1");
    assert_eq!(inv.vars("host2").unwrap()["http_port"], "8080");
    assert_eq!(
        inv.host_groups("host1").unwrap(),
        ["all", "southeast", "atlanta"]
    );
}

#[test]
fn group_priority_orders_groups_of_equal_depth() {
    let inv = yaml(
        "a:\n  hosts: {h: }\n  vars: {x: a, ansible_group_priority: 10}\n\
         b:\n  hosts: {h: }\n  vars: {x: b}\n",
    );
    assert_eq!(inv.vars("h").unwrap()["x"], "a");
}

#[test]
fn older_ssh_names_are_read_and_win_as_in_ansibles_ssh_plugin() {
    let inv = ini(
        "old ansible_ssh_host=10.0.0.1 ansible_ssh_port=2200 ansible_ssh_user=root \
         ansible_ssh_private_key_file=~/.ssh/old\n\
         both ansible_host=a ansible_ssh_host=b\n",
    );
    let c = inv.connection("old").unwrap();
    assert_eq!(
        c,
        Connection {
            name: "old".into(),
            address: "10.0.0.1".into(),
            port: Some(2200),
            user: Some("root".into()),
            identity_file: Some("~/.ssh/old".into()),
        }
    );
    assert_eq!(inv.connection("both").unwrap().address, "b");
    let bad = ini("h ansible_port=ssh\n");
    let err = bad.connection("h").unwrap_err().to_string();
    assert!(err.contains("ansible_port=\"ssh\" is not a port"), "{err}");
    assert!(matches!(
        bad.connection("nope"),
        Err(InventoryError::UnknownHost(_))
    ));
}

#[test]
fn passwords_are_dropped_counted_and_never_shown() {
    let inv = ini("[web]\nweb1 ansible_password=hunter2 ansible_user=u\n\
         [web:vars]\nansible_become_pass=s3cret\nansible_ssh_pass=x\n");
    let vars = inv.vars("web1").unwrap();
    assert!(!vars.contains_key("ansible_password"));
    assert!(!vars.contains_key("ansible_become_pass"));
    assert!(!format!("{inv:?}").contains("hunter2"));
    assert!(!format!("{inv:?}").contains("s3cret"));
    assert_eq!(inv.notes().secrets_dropped, 3);
    assert!(inv.notes().lines()[0].starts_with("3 password variable(s)"));
    let inv = yaml("all:\n  vars:\n    ansible_become_password: hunter2\n  hosts: {h: }\n");
    assert_eq!(inv.notes().secrets_dropped, 1);
    assert!(!format!("{inv:?}").contains("hunter2"));
    // An error on the line does not show the password either.
    let err = parse(
        "[web]\nweb1 ansible_password=hunter2 oops\n",
        "inv",
        Format::Ini,
    )
    .unwrap_err()
    .to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("\"oops\""), "{err}");
}

#[test]
fn ini_errors_name_the_line_and_what_to_do() {
    for (text, want) in [
        ("[web:hosts2]\n", "unknown section type"),
        ("[web servers]\n", "not a section header"),
        ("[web:vars]\nx=1\n", "add a [web] or [web:children] section"),
        (
            "[top:children]\nmissing\n",
            "names \"missing\", a group declared nowhere",
        ),
        ("[web]\nweb1 x='open\n", "no closing quotation"),
        ("[web]\nweb1:\n", "may not end in ':'"),
        ("---\n", "YAML"),
        ("[a:children]\nb\n[b:children]\na\n", "makes a loop"),
    ] {
        let err = parse(text, "inv", Format::Ini).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    // A child declared after the parent's list is fine.
    let inv = ini("[usa:children]\nsoutheast\n[southeast]\nh1\n");
    assert_eq!(group(&inv, "usa"), ["h1"]);
}

#[test]
fn yaml_shapes_and_features() {
    // Merge keys and anchors, as PyYAML reads them.
    let inv = yaml(
        "all:\n  hosts:\n    a: &base {ansible_user: deploy, x: 1}\n    \
         b:\n      <<: *base\n      x: 2\n",
    );
    let b = inv.vars("b").unwrap();
    assert_eq!(
        (b["ansible_user"].as_str(), b["x"].as_str()),
        ("deploy", "2")
    );
    // A section given as one string; a host with a port; structured values as JSON.
    let inv = yaml("web:\n  hosts: web1:2222\n  vars:\n    list: [1, two]\n");
    assert_eq!(inv.connection("web1").unwrap().port, Some(2222));
    assert_eq!(inv.vars("web1").unwrap()["list"], r#"["1","two"]"#);
    // Vault values are skipped and noted; unknown keys too.
    let inv = yaml("all:\n  hosts: {h: {pw: !vault '$ANSIBLE_VAULT;1.1'}}\n  other: {}\n");
    assert!(!inv.vars("h").unwrap().contains_key("pw"));
    assert_eq!(inv.notes().vault_values, 1);
    assert_eq!(inv.notes().ignored_keys, ["hosts.yml: all.other"]);
    for (text, want) in [
        ("", "empty"),
        ("- a\n- b\n", "mapping of group names"),
        (
            "plugin: aws_ec2\nregions: [us-east-1]\n",
            "dynamic inventory plugins are not run",
        ),
        (
            "all:\n  hosts: [a, b]\n",
            "hosts: of group \"all\" must be a mapping",
        ),
        ("all:\n  hosts:\n    h: 3\n", "host \"h\" must be followed"),
        ("a: 1\n---\nb: 2\n", "more than one YAML document"),
        ("all: {hosts: {h: *nope}}\n", "not valid YAML"),
        ("all:\n  hosts\n  x: : :\n", "not valid YAML"),
    ] {
        let err = parse(text, "inv.yml", Format::Yaml)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn yaml_is_bounded_in_depth_and_alias_expansion() {
    let deep = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
    let err = parse(&deep, "d.yml", Format::Yaml).unwrap_err().to_string();
    assert!(err.contains("nested at most 64 levels"), "{err}");
    let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let err = parse(&laughs, "l.yml", Format::Yaml)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("YAML nodes once aliases are expanded"),
        "{err}"
    );
}

#[test]
fn auto_format_reads_either() {
    assert_eq!(
        parse(DOCS_YAML, "hosts", Format::Auto)
            .unwrap()
            .hosts()
            .len(),
        6
    );
    assert_eq!(
        parse(DOCS_INI, "hosts", Format::Auto)
            .unwrap()
            .hosts()
            .len(),
        6
    );
    assert_eq!(Format::of_file_name("inv/prod.yaml"), Format::Yaml);
    assert_eq!(Format::of_file_name("hosts.ini"), Format::Ini);
}

#[test]
fn plain_host_lists_make_an_inventory_of_ungrouped_hosts() {
    let inv = Inventory::from_hosts(["web1", "db1", "web1"]);
    assert_eq!(all(&inv), ["web1", "db1"]);
    assert_eq!(group(&inv, "ungrouped"), ["web1", "db1"]);
    assert_eq!(inv.connection("db1").unwrap().address, "db1");
}

#[test]
fn group_and_host_vars_files_beside_the_inventory_apply_in_ansibles_order() {
    let dir = Dir::new("vars");
    let inv_path = dir.file(
        "hosts.ini",
        "[web]\nweb1 from_inventory=host\nweb2\n[prod:children]\nweb\n[web:vars]\nx=web-inline\n",
    );
    dir.file(
        "group_vars/all.yml",
        "x: all-file\ny: all-file\nansible_user: admin\n",
    );
    // A parent group's file beats the child's inline value: Ansible applies every
    // inventory-file group variable before any group_vars file.
    dir.file("group_vars/prod", "---\nx: prod-file\n");
    dir.file(
        "group_vars/web/10-main.yml",
        "z: web-dir\nansible_password: hunter2\n",
    );
    dir.file("group_vars/web/20-more.json", "{\"z\": \"web-dir-json\"}");
    dir.file("group_vars/web/README.md", "not read");
    dir.file(
        "group_vars/web.yml",
        "ignored: because the directory comes first\n",
    );
    dir.file(
        "host_vars/web1.yaml",
        "from_inventory: host-file\nansible_port: 2201\n",
    );
    dir.file("host_vars/web2.yml", "$ANSIBLE_VAULT;1.1;AES256\n6162\n");
    let inv = load(&inv_path).unwrap();
    let web1 = inv.vars("web1").unwrap();
    assert_eq!(web1["x"], "prod-file");
    assert_eq!(web1["y"], "all-file");
    assert_eq!(web1["z"], "web-dir-json");
    assert_eq!(web1["from_inventory"], "host-file");
    assert!(!web1.contains_key("ignored"));
    assert!(!web1.contains_key("ansible_password"));
    let c = inv.connection("web1").unwrap();
    assert_eq!((c.user.as_deref(), c.port), (Some("admin"), Some(2201)));
    assert_eq!(inv.notes().secrets_dropped, 1);
    assert_eq!(inv.notes().vault_files.len(), 1);
}

#[test]
fn executable_inventories_are_refused_and_directories_merged() {
    let dir = Dir::new("exec");
    let script = dir.file("ec2.py", "#!/usr/bin/env python3\nprint('{}')\n");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let err = load(&script).unwrap_err().to_string();
    assert!(
        err.starts_with("dynamic inventory scripts are not run:"),
        "{err}"
    );
    assert!(err.contains("ec2.py is executable"), "{err}");
    let err = load(&dir.0).unwrap_err().to_string();
    assert!(
        err.starts_with("dynamic inventory scripts are not run:"),
        "{err}"
    );

    let dir = Dir::new("static");
    dir.file("01-web", "[web]\nweb1\n");
    dir.file("02-db.yml", "db:\n  hosts: {db1: }\n  children: {web: }\n");
    dir.file("notes.md", "not an inventory");
    dir.file("group_vars/db.yml", "tier: data\n");
    let inv = load(&dir.0).unwrap();
    assert_eq!(all(&inv), ["db1", "web1"]);
    assert_eq!(group(&inv, "db"), ["db1", "web1"]);
    assert_eq!(inv.vars("web1").unwrap()["tier"], "data");

    let big = Dir::new("big");
    let path = big.file("hosts", &"#".repeat(5 << 20));
    let err = load(&path).unwrap_err().to_string();
    assert!(err.contains("files of at most 4194304 bytes"), "{err}");
    let empty = Dir::new("empty");
    assert!(matches!(
        load(&empty.0),
        Err(InventoryError::EmptyDirectory { .. })
    ));
}

mod properties {
    use proptest::prelude::*;

    use super::range;

    proptest! {
        #[test]
        fn a_numeric_range_gives_its_count_of_distinct_names(
            begin in 0u64..500, len in 0u64..500, step in 1u64..7, padded in any::<bool>()
        ) {
            let end = begin + len;
            let width = end.to_string().len() + 1;
            let (b, e) = if padded {
                (format!("{begin:0width$}"), format!("{end:0width$}"))
            } else {
                (begin.to_string(), end.to_string())
            };
            let names = range::expand(&format!("web[{b}:{e}:{step}].dc")).unwrap();
            prop_assert_eq!(names.len() as u64, len / step + 1);
            let unique: std::collections::HashSet<_> = names.iter().collect();
            prop_assert_eq!(unique.len(), names.len());
            prop_assert_eq!(&names[0], &format!("web{b}.dc"));
            for n in &names {
                let digits = &n[3..n.len() - 3];
                if padded {
                    prop_assert_eq!(digits.len(), width);
                }
                prop_assert!(digits.parse::<u64>().unwrap() <= end);
            }
        }

        #[test]
        fn two_ranges_multiply(a in 1u64..30, b in 1u64..30) {
            let names = range::expand(&format!("r[1:{a}]n[a:{}]", (b'a' + (b as u8 - 1) % 26) as char)).unwrap();
            prop_assert_eq!(names.len() as u64, a * ((b - 1) % 26 + 1));
        }
    }
}
