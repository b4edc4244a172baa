//! The only part of the crate that reads files: an inventory file, or a directory of them
//! (merged in name order, as Ansible does), and the `group_vars/` and `host_vars/` beside
//! it (Ansible's `host_group_vars` plugin: for a name, the first of `NAME`, `NAME.yml`,
//! `NAME.yaml`, `NAME.json`; a directory `NAME/` instead has all its files read, in name
//! order, recursively). Anything executable is refused before anything is read: Ansible
//! would run it as a dynamic inventory script, and sshpty runs no such thing.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::builder::Builder;
use super::error::{InventoryError, Limit, Place};
use super::model::{Inventory, Vars};
use super::source::{self, Format};
use crate::limits::{MAX_FILE_BYTES, MAX_FILES};

/// Directories below `group_vars/NAME/` followed at most this deep (a symlink loop ends).
const MAX_VARS_DIR_DEPTH: usize = 8;
/// Extensions of vars files (Ansible's `YAML_FILENAME_EXTENSIONS`); no extension counts too.
const VARS_EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];
/// Files of an inventory directory that are not inventories (Ansible's
/// `INVENTORY_IGNORE_EXTS`).
const IGNORED_EXTENSIONS: [&str; 11] = [
    "pyc", "pyo", "swp", "bak", "rpm", "md", "txt", "rst", "orig", "cfg", "retry",
];

/// Loads the inventory at `path` (a file or a directory) with its `group_vars/` and
/// `host_vars/`.
pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
    let mut files = Vec::new();
    let meta = fs::metadata(path).map_err(|e| io(path, e))?;
    let base = if meta.is_dir() {
        collect_inventories(path, 0, &mut files)?;
        if files.is_empty() {
            return Err(InventoryError::EmptyDirectory {
                path: path.to_owned(),
            });
        }
        path.to_owned()
    } else {
        refuse_executable(path, &meta)?;
        files.push(path.to_owned());
        path.parent().map(Path::to_owned).unwrap_or_default()
    };
    let mut b = Builder::new();
    for file in &files {
        let text = read(file)?;
        let name = file.display().to_string();
        let format = Format::of_file_name(&name);
        source::add(&mut b, &text, &name, format)?;
    }
    let mut budget = MAX_FILES.saturating_sub(files.len());
    let (groups, hosts) = b.names();
    for (dir, names, is_group) in [("group_vars", groups, true), ("host_vars", hosts, false)] {
        let dir = base.join(dir);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let present: HashSet<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        for name in names {
            let found = vars_files(&dir, &name, &present, &mut budget)?;
            if found.is_empty() {
                continue;
            }
            let mut vars = Vars::new();
            for file in found {
                let text = read(&file)?;
                source::add_vars(&mut b, &text, &file.display().to_string(), &mut vars)?;
            }
            let target = if is_group {
                b.group_file_vars(&name)
            } else {
                b.host_file_vars(&name)
            };
            if let Some(target) = target {
                target.extend(vars);
            }
        }
    }
    Ok(b.finish())
}

/// The inventory files of a directory, recursively, in name order; hidden files,
/// `group_vars`, `host_vars` and Ansible's ignored extensions skipped.
fn collect_inventories(
    dir: &Path,
    depth: usize,
    out: &mut Vec<PathBuf>,
) -> Result<(), InventoryError> {
    if depth > MAX_VARS_DIR_DEPTH {
        return Ok(());
    }
    for path in sorted_entries(dir)? {
        let name = file_name(&path);
        if name.starts_with('.')
            || name.ends_with('~')
            || matches!(name.as_str(), "group_vars" | "host_vars" | "vars_plugins")
        {
            continue;
        }
        let meta = fs::metadata(&path).map_err(|e| io(&path, e))?;
        if meta.is_dir() {
            collect_inventories(&path, depth + 1, out)?;
            continue;
        }
        if let Some((_, ext)) = name.rsplit_once('.')
            && IGNORED_EXTENSIONS.contains(&ext)
        {
            continue;
        }
        refuse_executable(&path, &meta)?;
        out.push(path);
        if out.len() > MAX_FILES {
            return Err(limit(dir, Limit::Files(MAX_FILES)));
        }
    }
    Ok(())
}

/// The vars files for `name` in `dir` (`group_vars/` or `host_vars/`), whose entries are
/// `present`.
fn vars_files(
    dir: &Path,
    name: &str,
    present: &HashSet<String>,
    budget: &mut usize,
) -> Result<Vec<PathBuf>, InventoryError> {
    let candidates = [
        name.to_owned(),
        format!("{name}.yml"),
        format!("{name}.yaml"),
        format!("{name}.json"),
    ];
    let Some(found) = candidates.iter().find(|c| present.contains(c.as_str())) else {
        return Ok(Vec::new());
    };
    let path = dir.join(found);
    let mut out = Vec::new();
    if path.is_dir() {
        vars_dir(&path, 0, &mut out)?;
    } else {
        out.push(path);
    }
    if out.len() > *budget {
        return Err(limit(dir, Limit::Files(MAX_FILES)));
    }
    *budget -= out.len();
    Ok(out)
}

/// The files of a `group_vars/NAME/` directory (Ansible's `_get_dir_vars_files`).
fn vars_dir(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), InventoryError> {
    if depth > MAX_VARS_DIR_DEPTH {
        return Ok(());
    }
    for path in sorted_entries(dir)? {
        let name = file_name(&path);
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = Path::new(&name).extension().and_then(|e| e.to_str());
        if path.is_dir() {
            if ext.is_none() {
                vars_dir(&path, depth + 1, out)?;
            }
        } else if ext.is_none_or(|e| VARS_EXTENSIONS.contains(&e)) {
            out.push(path);
        }
        if out.len() > MAX_FILES {
            return Err(limit(dir, Limit::Files(MAX_FILES)));
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, InventoryError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, e))? {
        entries.push(entry.map_err(|e| io(dir, e))?.path());
        if entries.len() > MAX_FILES * 10 {
            return Err(limit(dir, Limit::Files(MAX_FILES)));
        }
    }
    entries.sort();
    Ok(entries)
}

fn refuse_executable(path: &Path, meta: &fs::Metadata) -> Result<(), InventoryError> {
    if meta.permissions().mode() & 0o111 != 0 {
        return Err(InventoryError::Executable {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// A file's text, within the size limit and as UTF-8.
fn read(path: &Path) -> Result<String, InventoryError> {
    let meta = fs::metadata(path).map_err(|e| io(path, e))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(limit(path, Limit::FileBytes(MAX_FILE_BYTES)));
    }
    let bytes = fs::read(path).map_err(|e| io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        InventoryError::NotText {
            place: Place {
                file: path.display().to_string(),
                line: valid.iter().filter(|&&b| b == b'\n').count() + 1,
            },
        }
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn io(path: &Path, source: std::io::Error) -> InventoryError {
    InventoryError::Io {
        path: path.to_owned(),
        source,
    }
}

fn limit(path: &Path, limit: Limit) -> InventoryError {
    InventoryError::Limit {
        file: path.display().to_string(),
        limit,
    }
}
