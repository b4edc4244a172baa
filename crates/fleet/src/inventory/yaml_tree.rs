//! YAML text to a small tree, bounded: yaml-rust2's event parser (iterative; its own
//! loader recurses and copies aliases without a budget) feeds a builder that keeps an
//! explicit stack, refuses nesting beyond [`MAX_DEPTH`] and counts nodes, aliases
//! included, against [`MAX_YAML_NODES`]. Merge keys (`<<: *defaults`) are resolved when a
//! mapping is read (`entries`), as PyYAML, which Ansible uses, resolves them.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::error::{InventoryError, Limit, Place, YamlProblem};
use crate::limits::{MAX_DEPTH, MAX_YAML_NODES};

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    /// 1-based line where the node starts.
    pub line: usize,
    /// Levels of nesting inside (0 for a scalar): an alias may not take a tree deeper
    /// than a document may be written.
    pub height: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `~`, `null`, or nothing.
    Null,
    Scalar(String),
    /// A value tagged `!vault`: encrypted, never read.
    Vault,
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A node's size in nodes, for the alias budget.
    fn size(&self) -> usize {
        let mut n = 0;
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            n += 1;
            match &node.kind {
                Kind::Seq(items) => stack.extend(items),
                Kind::Map(entries) => stack.extend(entries.iter().flat_map(|(k, v)| [k, v])),
                _ => {}
            }
        }
        n
    }

    /// A plain string (a key or a name), or `None` for anything else.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The entries of a mapping with merge keys resolved (keys written in the mapping win
    /// over merged ones; of merged mappings, the earlier wins), as (key, value); keys that
    /// are not plain strings are an error.
    pub fn entries<'a>(&'a self, file: &str) -> Result<Vec<(&'a str, &'a Node)>, InventoryError> {
        let mut out: Vec<(&str, &Node)> = Vec::new();
        let mut merged: Vec<(&str, &Node)> = Vec::new();
        let Kind::Map(pairs) = &self.kind else {
            return Ok(out);
        };
        for (key, value) in pairs {
            let name = key.as_str().ok_or_else(|| InventoryError::Yaml {
                place: place(file, key.line),
                problem: YamlProblem::Key,
            })?;
            if name == "<<" {
                let sources: Vec<&Node> = match &value.kind {
                    Kind::Seq(items) => items.iter().collect(),
                    _ => vec![value],
                };
                for source in sources {
                    if matches!(source.kind, Kind::Map(_)) {
                        merged.extend(source.entries(file)?);
                    }
                }
            } else {
                // A key written twice: the later wins (PyYAML's behaviour, which Ansible
                // warns about).
                out.retain(|(k, _)| *k != name);
                out.push((name, value));
            }
        }
        for (k, v) in merged {
            if !out.iter().any(|(o, _)| *o == k) {
                out.push((k, v));
            }
        }
        Ok(out)
    }
}

fn place(file: &str, line: usize) -> Place {
    Place {
        file: file.to_owned(),
        line,
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        anchor: usize,
        line: usize,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        anchor: usize,
        line: usize,
    },
}

/// The document in `text`, or `None` for a stream with no document (an empty file, or
/// only comments).
pub(crate) fn parse(text: &str, file: &str) -> Result<Option<Node>, InventoryError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut nodes = 0usize;
    let mut documents = 0usize;
    let mut root: Option<Node> = None;
    let too_many = || InventoryError::Limit {
        file: file.to_owned(),
        limit: Limit::YamlNodes(MAX_YAML_NODES),
    };
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|source| InventoryError::YamlSyntax {
                place: place(file, 0),
                source,
            })?;
        let line = mark.line().max(1);
        let (node, anchor) = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(InventoryError::Yaml {
                        place: place(file, line),
                        problem: YamlProblem::SeveralDocuments,
                    });
                }
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let vault = tag
                    .as_ref()
                    .is_some_and(|t| t.handle == "!" && t.suffix == "vault");
                let kind = if vault {
                    Kind::Vault
                } else if style == TScalarStyle::Plain
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Kind::Null
                } else {
                    Kind::Scalar(text)
                };
                (
                    Node {
                        kind,
                        line,
                        height: 0,
                    },
                    anchor,
                )
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(InventoryError::Limit {
                        file: file.to_owned(),
                        limit: Limit::Depth(MAX_DEPTH),
                    });
                }
                nodes += 1;
                if nodes > MAX_YAML_NODES {
                    return Err(too_many());
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        items: Vec::new(),
                        anchor,
                        line,
                    }
                } else {
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        anchor,
                        line,
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    anchor,
                    line,
                }) => (
                    Node {
                        height: 1 + items.iter().map(|n| n.height).max().unwrap_or(0),
                        kind: Kind::Seq(items),
                        line,
                    },
                    anchor,
                ),
                Some(Frame::Map {
                    entries,
                    anchor,
                    line,
                    ..
                }) => (
                    Node {
                        height: 1 + entries
                            .iter()
                            .map(|(k, v)| k.height.max(v.height))
                            .max()
                            .unwrap_or(0),
                        kind: Kind::Map(entries),
                        line,
                    },
                    anchor,
                ),
                None => continue,
            },
            Event::Alias(id) => {
                let node = anchors.get(&id).ok_or_else(|| InventoryError::Yaml {
                    place: place(file, line),
                    problem: YamlProblem::UnknownAlias,
                })?;
                if stack.len() + node.height > MAX_DEPTH {
                    return Err(InventoryError::Limit {
                        file: file.to_owned(),
                        limit: Limit::Depth(MAX_DEPTH),
                    });
                }
                nodes = nodes.saturating_add(node.size());
                if nodes > MAX_YAML_NODES {
                    return Err(too_many());
                }
                (node.clone(), 0)
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => continue,
        };
        if !matches!(node.kind, Kind::Seq(_) | Kind::Map(_)) {
            nodes += 1;
            if nodes > MAX_YAML_NODES {
                return Err(too_many());
            }
        }
        if anchor > 0 {
            // The copy kept for later aliases costs as much as the node.
            nodes = nodes.saturating_add(node.size());
            if nodes > MAX_YAML_NODES {
                return Err(too_many());
            }
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(root)
}

/// A value as text, the way sshpty keeps every variable: a scalar as written, null as
/// empty, a list or mapping as JSON (its scalars as strings). `None` for a vault value.
pub(crate) fn value_text(node: &Node) -> Option<String> {
    match &node.kind {
        Kind::Null => Some(String::new()),
        Kind::Scalar(s) => Some(s.clone()),
        Kind::Vault => None,
        Kind::Seq(_) | Kind::Map(_) => Some(to_json(node).to_string()),
    }
}

fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        Kind::Null | Kind::Vault => Value::Null,
        Kind::Scalar(s) => Value::String(s.clone()),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), to_json(v)))
                .collect(),
        ),
    }
}
