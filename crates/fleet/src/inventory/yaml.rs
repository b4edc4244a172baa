//! Ansible's YAML inventory (`ansible.plugins.inventory.yaml`): top-level keys are groups
//! (usually just `all:`); a group has `hosts:` (host name or range → its variables),
//! `children:` (groups, nested the same way) and `vars:`. A section given as one string is
//! one entry; other keys are skipped and noted, as Ansible warns and skips them.

use super::builder::Builder;
use super::error::{InventoryError, Place, YamlProblem};
use super::model::GroupId;
use super::yaml_tree::{self, Kind, Node};

/// Reads `text` (the file `file`) into the inventory being built.
pub(crate) fn parse(text: &str, file: &str, b: &mut Builder) -> Result<(), InventoryError> {
    let root = yaml_tree::parse(text, file)?.ok_or_else(|| problem(file, 0, YamlProblem::Empty))?;
    parse_tree(&root, file, b)
}

/// The inventory in a parsed document.
pub(crate) fn parse_tree(root: &Node, file: &str, b: &mut Builder) -> Result<(), InventoryError> {
    if !matches!(root.kind, Kind::Map(_)) {
        return Err(problem(file, root.line, YamlProblem::NotAMapping));
    }
    let groups = root.entries(file)?;
    if let Some((_, plugin)) = groups.iter().find(|(k, _)| *k == "plugin")
        && !matches!(plugin.kind, Kind::Null)
    {
        let name = plugin.as_str().unwrap_or_default().to_owned();
        return Err(problem(file, plugin.line, YamlProblem::PluginConfig(name)));
    }
    for (name, data) in groups {
        group(name, data, file, b)?;
    }
    Ok(())
}

/// One group and what it holds; returns its id.
fn group(
    name: &str,
    data: &Node,
    file: &str,
    b: &mut Builder,
) -> Result<Option<GroupId>, InventoryError> {
    let place = Place {
        file: file.to_owned(),
        line: data.line,
    };
    if !matches!(data.kind, Kind::Map(_) | Kind::Null) {
        b.notes().ignored_keys.push(format!("{file}: {name}"));
        return Ok(None);
    }
    let id = b.add_group(name, &place)?;
    for (key, value) in data.entries(file)? {
        let entries = match (&value.kind, key) {
            (Kind::Null, _) => continue,
            (_, "hosts" | "children" | "vars") => section(name, key, value, file)?,
            _ => {
                b.notes().ignored_keys.push(format!("{file}: {name}.{key}"));
                continue;
            }
        };
        for (entry, inner) in entries {
            let place = Place {
                file: file.to_owned(),
                line: inner.map_or(value.line, |n| n.line),
            };
            match key {
                "vars" => {
                    let v = match inner {
                        Some(node) => var_value(b, node),
                        None => Some(String::new()),
                    };
                    if let Some(v) = v {
                        b.set_group_var(id, entry, v, &place)?;
                    }
                }
                "children" => {
                    let null = Node {
                        kind: Kind::Null,
                        line: place.line,
                        height: 0,
                    };
                    if let Some(child) = group(entry, inner.unwrap_or(&null), file, b)? {
                        b.add_child(id, child, &place)?;
                    }
                }
                _ => hosts(entry, inner, id, &place, b)?,
            }
        }
    }
    Ok(Some(id))
}

/// A section's entries: a mapping's, or one string as an entry with no value.
fn section<'a>(
    group: &str,
    key: &str,
    value: &'a Node,
    file: &str,
) -> Result<Vec<(&'a str, Option<&'a Node>)>, InventoryError> {
    match &value.kind {
        Kind::Scalar(s) => Ok(vec![(s.as_str(), None)]),
        Kind::Map(_) => Ok(value
            .entries(file)?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect()),
        _ => Err(problem(
            file,
            value.line,
            YamlProblem::Section {
                group: group.to_owned(),
                section: key.to_owned(),
            },
        )),
    }
}

/// `web[01:03]:2222: {ansible_user: deploy}` under `hosts:`.
fn hosts(
    entry: &str,
    vars: Option<&Node>,
    group: GroupId,
    place: &Place,
    b: &mut Builder,
) -> Result<(), InventoryError> {
    let vars = match vars.map(|v| &v.kind) {
        None | Some(Kind::Null) => Vec::new(),
        Some(Kind::Map(_)) => vars.map_or(Ok(Vec::new()), |v| v.entries(&place.file))?,
        Some(_) => {
            return Err(problem(
                &place.file,
                place.line,
                YamlProblem::HostVars(entry.to_owned()),
            ));
        }
    };
    let mut kept = Vec::with_capacity(vars.len());
    for (key, value) in vars {
        if let Some(v) = var_value(b, value) {
            kept.push((key, v));
        }
    }
    b.add_entry(entry, group, &kept, place)
}

/// A variable's value as text; a vault value is counted in the notes and left out.
fn var_value(b: &mut Builder, node: &Node) -> Option<String> {
    let text = yaml_tree::value_text(node);
    if text.is_none() {
        b.notes().vault_values += 1;
    }
    text
}

fn problem(file: &str, line: usize, problem: YamlProblem) -> InventoryError {
    InventoryError::Yaml {
        place: Place {
            file: file.to_owned(),
            line,
        },
        problem,
    }
}
