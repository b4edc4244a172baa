//! Ansible's INI inventory (`ansible.plugins.inventory.ini`), line by line as Ansible reads
//! it: lines before any section are hosts of `ungrouped`; `[group]` lists hosts (with
//! `key=value` variables, ranges, `:port`), `[group:children]` groups, `[group:vars]` one
//! `key=value` per line; `#` and `;` start comment lines. A `[group:children]` line may
//! name a group declared further down; `[group:vars]` for a group declared nowhere is an
//! error, as in Ansible.

use std::collections::HashMap;

use super::address::split_port;
use super::builder::Builder;
use super::error::{IniProblem, InventoryError, Place};
use super::model::{SECRET_VARS, UNGROUPED};
use super::shlex;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Hosts,
    Children,
    Vars,
}

/// A group named before it is declared: in a `:children` list (with the parents waiting
/// for it), or by a `:vars` section.
struct Pending {
    line: usize,
    text: String,
    vars_only: bool,
    parents: Vec<String>,
}

/// Reads `text` (the file `file`) into the inventory being built.
pub(crate) fn parse(text: &str, file: &str, b: &mut Builder) -> Result<(), InventoryError> {
    let mut group = "ungrouped".to_owned();
    let mut group_id = UNGROUPED;
    let mut state = State::Hosts;
    let mut pending: HashMap<String, Pending> = HashMap::new();
    // In order met, so the first unresolved one is the one reported (as Ansible does).
    let mut pending_order: Vec<String> = Vec::new();

    for (i, raw) in text.lines().enumerate() {
        let place = Place {
            file: file.to_owned(),
            line: i + 1,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let fail = |problem| ini_error(&place, line, problem);

        if let Some((name, kind)) = section(line) {
            state = match kind {
                None | Some("hosts") => State::Hosts,
                Some("children") => State::Children,
                Some("vars") => State::Vars,
                Some(other) => return Err(fail(IniProblem::SectionType(other.to_owned()))),
            };
            if b.group(name).is_none() && state == State::Vars && !pending.contains_key(name) {
                pending_order.push(name.to_owned());
                pending.insert(
                    name.to_owned(),
                    Pending {
                        line: place.line,
                        text: line.to_owned(),
                        vars_only: true,
                        parents: Vec::new(),
                    },
                );
            }
            group_id = b.add_group(name, &place)?;
            group = name.to_owned();
            if state != State::Vars
                && let Some(p) = pending.remove(name)
            {
                for parent in p.parents {
                    let parent_id = b.add_group(&parent, &place)?;
                    b.add_child(parent_id, group_id, &place)?;
                }
            }
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(fail(IniProblem::Section));
        }

        match state {
            State::Hosts => host_line(line, group_id, &place, b)?,
            State::Vars => {
                let (key, value) = line
                    .split_once('=')
                    .ok_or_else(|| fail(IniProblem::VarsLine))?;
                b.set_group_var(group_id, key.trim(), shlex::value(value.trim()), &place)?;
            }
            State::Children => {
                let child = group_name(line).ok_or_else(|| fail(IniProblem::ChildName))?;
                match b.group(child) {
                    Some(child_id) => b.add_child(group_id, child_id, &place)?,
                    None => {
                        let p = pending.entry(child.to_owned()).or_insert_with(|| {
                            pending_order.push(child.to_owned());
                            Pending {
                                line: place.line,
                                text: line.to_owned(),
                                vars_only: false,
                                parents: Vec::new(),
                            }
                        });
                        p.parents.push(group.clone());
                    }
                }
            }
        }
    }

    // A group still pending was never declared.
    for name in pending_order {
        let Some(p) = pending.remove(&name) else {
            continue;
        };
        let place = Place {
            file: file.to_owned(),
            line: p.line,
        };
        let problem = if p.vars_only {
            IniProblem::VarsOfUndefined(name)
        } else {
            IniProblem::UndefinedChild {
                parent: p.parents.last().cloned().unwrap_or_default(),
                child: name,
            }
        };
        return Err(ini_error(&place, &p.text, problem));
    }
    Ok(())
}

/// `web1`, `web[01:50]:2222 ansible_user=deploy`, each host put in `group`.
fn host_line(
    line: &str,
    group: usize,
    place: &Place,
    b: &mut Builder,
) -> Result<(), InventoryError> {
    let fail = |problem| ini_error(place, line, problem);
    let words = shlex::split(line).map_err(|why| fail(IniProblem::Quoting(why)))?;
    let Some((entry, rest)) = words.split_first() else {
        return Ok(());
    };
    let mut vars = Vec::with_capacity(rest.len());
    for word in rest {
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| fail(IniProblem::HostVariable(redact_word(word))))?;
        vars.push((key, shlex::value(value)));
    }
    if entry.trim().ends_with(':') && split_port(entry).1.is_none() {
        return Err(fail(IniProblem::TrailingColon));
    }
    if split_port(entry).0.trim() == "---" {
        return Err(fail(IniProblem::LooksLikeYaml));
    }
    b.add_entry(entry, group, &vars, place)
}

/// `[name]` or `[name:kind]`, with an optional trailing comment (Ansible's `section` regex).
fn section(line: &str) -> Option<(&str, Option<&str>)> {
    let inner = line.strip_prefix('[')?;
    let close = inner.find(']')?;
    let after = inner[close + 1..].trim_start();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let inside = &inner[..close];
    let (name, kind) = match inside.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inside, None),
    };
    let name_ok = !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == ':');
    let kind_ok =
        kind.is_none_or(|k| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'));
    (name_ok && kind_ok).then_some((name, kind))
}

/// A `[group:children]` line: one name, optionally a comment.
fn group_name(line: &str) -> Option<&str> {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '#')
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let ok = !name.is_empty()
        && !name.contains([':', ']'])
        && (rest.is_empty() || rest.starts_with('#'));
    ok.then_some(name)
}

/// The error for a line, with the values of password variables hidden from its text.
fn ini_error(place: &Place, line: &str, problem: IniProblem) -> InventoryError {
    InventoryError::Ini {
        place: place.clone(),
        text: redact(line),
        problem,
    }
}

/// `ansible_password=…`: a line shown in an error never shows a password.
fn redact(line: &str) -> String {
    line.split(' ')
        .map(redact_word)
        .collect::<Vec<_>>()
        .join(" ")
}

fn redact_word(word: &str) -> String {
    match word.split_once('=') {
        Some((key, _)) if SECRET_VARS.contains(&key.trim()) => format!("{key}=…"),
        _ => word.to_owned(),
    }
}
