//! Why an inventory cannot be used. Each error names the file and, where there is one, the
//! line and the text at fault, and says what to do; none ever carries a variable's value
//! (a dropped password must not come back in a message).

use std::path::PathBuf;

use thiserror::Error;

use super::range::RangeProblem;

/// Where in an inventory something was found: a file (or the name given to parsed text) and
/// a 1-based line (0 when the whole file is meant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{} line {}", self.file, self.line)
        }
    }
}

/// A bound of [`crate::limits`] an inventory went beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    FileBytes(u64),
    Hosts(usize),
    Entries(usize),
    Groups(usize),
    Depth(usize),
    YamlNodes(usize),
    Files(usize),
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::FileBytes(n) => write!(f, "files of at most {n} bytes"),
            Limit::Hosts(n) => write!(f, "at most {n} hosts"),
            Limit::Entries(n) => write!(
                f,
                "at most {n} host entries and variable assignments after ranges are expanded"
            ),
            Limit::Groups(n) => write!(f, "at most {n} groups"),
            Limit::Depth(n) => write!(f, "YAML nested at most {n} levels deep"),
            Limit::YamlNodes(n) => write!(f, "at most {n} YAML nodes once aliases are expanded"),
            Limit::Files(n) => write!(f, "at most {n} inventory and vars files"),
        }
    }
}

/// What is wrong with a line of an INI inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IniProblem {
    /// `[web:hosts]`: only `children` and `vars` follow a colon.
    SectionType(String),
    /// `[web servers]`, `[web`.
    Section,
    /// A host line's word after the name without `=`.
    HostVariable(String),
    /// A `:vars` line without `=`.
    VarsLine,
    /// A `:children` line that is not one group name.
    ChildName,
    /// Unbalanced quotes or a trailing backslash.
    Quoting(&'static str),
    /// `web1:`: Ansible reserves a trailing colon for a port.
    TrailingColon,
    /// `---`: a YAML file read as INI.
    LooksLikeYaml,
    /// `[web:vars]` for a group declared nowhere.
    VarsOfUndefined(String),
    /// `[web:children]` naming a group declared nowhere.
    UndefinedChild { parent: String, child: String },
}

impl std::fmt::Display for IniProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IniProblem::SectionType(t) => write!(
                f,
                "unknown section type {t:?}: a section is [group], [group:children] or [group:vars]"
            ),
            IniProblem::Section => write!(
                f,
                "not a section header: a group name has no spaces, ':' or ']'"
            ),
            IniProblem::HostVariable(w) => {
                write!(f, "{w:?} after the host name is not a key=value variable")
            }
            IniProblem::VarsLine => write!(f, "a [group:vars] line must be key=value"),
            IniProblem::ChildName => write!(f, "a [group:children] line must be one group name"),
            IniProblem::Quoting(why) => write!(f, "{why}"),
            IniProblem::TrailingColon => write!(
                f,
                "a host name may not end in ':' (reserved for a port, as in web1:2222)"
            ),
            IniProblem::LooksLikeYaml => write!(
                f,
                "'---' starts a YAML document: give the file a .yml or .yaml name"
            ),
            IniProblem::VarsOfUndefined(g) => write!(
                f,
                "[{g}:vars] is for a group declared nowhere: add a [{g}] or [{g}:children] section"
            ),
            IniProblem::UndefinedChild { parent, child } => write!(
                f,
                "[{parent}:children] names {child:?}, a group declared nowhere: add a [{child}] section"
            ),
        }
    }
}

/// What is wrong with the shape of a YAML inventory or vars file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlProblem {
    Empty,
    /// The document is not a mapping of group names.
    NotAMapping,
    /// An inventory plugin's configuration (`plugin: aws_ec2`): a dynamic inventory.
    PluginConfig(String),
    /// More than one `---` document.
    SeveralDocuments,
    /// A group's `hosts:`, `children:` or `vars:` that is not a mapping.
    Section {
        group: String,
        section: String,
    },
    /// A host's entry that is neither empty nor a mapping of variables.
    HostVars(String),
    /// A group name or a variable name that is not a plain string.
    Key,
    /// `*name` without an earlier `&name`.
    UnknownAlias,
    /// A `group_vars/` or `host_vars/` file that is not a mapping of variables.
    VarsFile,
}

impl std::fmt::Display for YamlProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            YamlProblem::Empty => write!(f, "the file is empty"),
            YamlProblem::NotAMapping => write!(
                f,
                "a YAML inventory is a mapping of group names (all:, web:, …)"
            ),
            YamlProblem::PluginConfig(p) => write!(
                f,
                "dynamic inventory plugins are not run: this file configures the {p:?} plugin; \
                 export its result with `ansible-inventory -i FILE --list --yaml > static.yml` \
                 and load that"
            ),
            YamlProblem::SeveralDocuments => write!(f, "more than one YAML document (---)"),
            YamlProblem::Section { group, section } => write!(
                f,
                "{section}: of group {group:?} must be a mapping (name: value lines)"
            ),
            YamlProblem::HostVars(h) => write!(
                f,
                "host {h:?} must be followed by nothing or by a mapping of its variables"
            ),
            YamlProblem::Key => write!(f, "a group, host or variable name must be a plain string"),
            YamlProblem::UnknownAlias => write!(f, "an alias (*name) refers to no anchor (&name)"),
            YamlProblem::VarsFile => write!(f, "a vars file is a mapping of variable names"),
        }
    }
}

#[derive(Debug, Error)]
pub enum InventoryError {
    #[error("{place}: {problem} (line: {text:?})")]
    Ini {
        place: Place,
        text: String,
        problem: IniProblem,
    },
    #[error("{place}: host range in {text:?}: {problem}")]
    Range {
        place: Place,
        text: String,
        problem: RangeProblem,
    },
    #[error("{place}: not valid YAML: {source}")]
    YamlSyntax {
        place: Place,
        #[source]
        source: yaml_rust2::ScanError,
    },
    #[error("{place}: {problem}")]
    Yaml { place: Place, problem: YamlProblem },
    #[error("{place}: not UTF-8 text; save the file as UTF-8")]
    NotText { place: Place },
    #[error(
        "{file}: the inventory goes beyond the limit of {limit}: split it, or select fewer hosts"
    )]
    Limit { file: String, limit: Limit },
    #[error(
        "{place}: group {child:?} inside group {parent:?} makes a loop ({parent} is already inside {child})"
    )]
    Cycle {
        place: Place,
        parent: String,
        child: String,
    },
    #[error(
        "host {host}: {variable}={value:?} is not a port number (1-65535); fix it in the inventory"
    )]
    Port {
        host: String,
        variable: &'static str,
        value: String,
    },
    #[error("no host {0:?} in the inventory")]
    UnknownHost(String),
    #[error(
        "dynamic inventory scripts are not run: {path} is executable; \
         export its result with `ansible-inventory -i {path} --list --yaml > static.yml` \
         and load that (or clear its exec bit if it is a static file)"
    )]
    Executable { path: PathBuf },
    #[error("{path}: no inventory file in this directory")]
    EmptyDirectory { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
