//! A `group_vars/` or `host_vars/` file: a YAML (or JSON, which YAML reads) mapping of
//! variables. A vault-encrypted file (`$ANSIBLE_VAULT;…`) is not read: it is noted, since
//! sshpty has no vault password and such files usually hold the passwords it ignores
//! anyway.

use super::builder::Builder;
use super::error::{InventoryError, Place, YamlProblem};
use super::model::Vars;
use super::yaml_tree::{self, Kind};

/// The variables in `text` (the file `file`), passwords dropped; added to `into`, later
/// files winning.
pub(crate) fn parse(
    text: &str,
    file: &str,
    b: &mut Builder,
    into: &mut Vars,
) -> Result<(), InventoryError> {
    if text.trim_start().starts_with("$ANSIBLE_VAULT") {
        b.notes().vault_files.push(file.to_owned());
        return Ok(());
    }
    let Some(root) = yaml_tree::parse(text, file)? else {
        return Ok(());
    };
    match root.kind {
        Kind::Null => return Ok(()),
        Kind::Map(_) => {}
        _ => {
            return Err(InventoryError::Yaml {
                place: Place {
                    file: file.to_owned(),
                    line: root.line,
                },
                problem: YamlProblem::VarsFile,
            });
        }
    }
    for (key, value) in root.entries(file)? {
        let place = Place {
            file: file.to_owned(),
            line: value.line,
        };
        if !b.keep(key, &place)? {
            continue;
        }
        match yaml_tree::value_text(value) {
            Some(v) => {
                into.insert(key.to_owned(), v);
            }
            None => b.notes().vault_values += 1,
        }
    }
    Ok(())
}
