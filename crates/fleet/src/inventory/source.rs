//! Inventory text to an inventory: which parser reads it (by the file's extension, or by
//! what it looks like, as Ansible tries its YAML plugin before its INI one), and several
//! texts merged into one inventory as Ansible merges the files of a directory.

use super::builder::Builder;
use super::error::InventoryError;
use super::model::{Inventory, Vars};
use super::yaml_tree::{self, Kind};
use super::{ini, vars, yaml};

/// How to read an inventory text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ini,
    Yaml,
    /// YAML when the text is a YAML mapping, INI otherwise (Ansible's order of plugins
    /// for a file without a telling extension).
    Auto,
}

impl Format {
    /// The format a file name implies: `.yml`, `.yaml`, `.json` → YAML (Ansible's YAML
    /// plugin takes those), `.ini` → INI, anything else → [`Format::Auto`].
    pub fn of_file_name(name: &str) -> Format {
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("yml" | "yaml" | "json") => Format::Yaml,
            Some("ini") => Format::Ini,
            _ => Format::Auto,
        }
    }
}

/// Parses one inventory text; `name` (a file name) is what errors call it.
pub fn parse(text: &str, name: &str, format: Format) -> Result<Inventory, InventoryError> {
    let mut b = Builder::new();
    add(&mut b, text, name, format)?;
    Ok(b.finish())
}

/// Reads one inventory text into the inventory being built.
pub(crate) fn add(
    b: &mut Builder,
    text: &str,
    name: &str,
    format: Format,
) -> Result<(), InventoryError> {
    match format {
        Format::Ini => ini::parse(text, name, b),
        Format::Yaml => yaml::parse(text, name, b),
        Format::Auto => match yaml_tree::parse(text, name) {
            Ok(Some(root)) if matches!(root.kind, Kind::Map(_)) => yaml::parse_tree(&root, name, b),
            _ => ini::parse(text, name, b),
        },
    }
}

/// Reads one vars file's text into `into`.
pub(crate) fn add_vars(
    b: &mut Builder,
    text: &str,
    name: &str,
    into: &mut Vars,
) -> Result<(), InventoryError> {
    vars::parse(text, name, b, into)
}
