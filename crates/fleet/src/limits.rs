//! The bounds every inventory is held to. An inventory comes from a file a notebook names,
//! so a typo (`web[1:1000000]`) or a hostile file must end in an error naming the bound,
//! not in a kernel that swaps or stops answering.

/// One inventory or vars file: real inventories of thousands of hosts are a few hundred KiB.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Hosts in one inventory, and hosts one range such as `web[1:100000]` may expand to.
pub const MAX_HOSTS: usize = 100_000;
/// Host entries and variable assignments after ranges are expanded, over the whole load: a
/// file of many lines each naming a large range (or many variables on a ranged line) would
/// otherwise cost work far beyond its size.
pub const MAX_ENTRIES: usize = 2_000_000;
/// Groups in one inventory.
pub const MAX_GROUPS: usize = 10_000;
/// Nesting of YAML collections (a `children:` level is two).
pub const MAX_DEPTH: usize = 64;
/// YAML nodes after aliases (`*anchor`) are expanded: a few aliases of aliases multiply
/// (the "billion laughs"), so expansion has a budget of its own.
pub const MAX_YAML_NODES: usize = 1_000_000;
/// Files read for one inventory: inventory files of a directory, and `group_vars/`,
/// `host_vars/` files.
pub const MAX_FILES: usize = 1_000;
/// Hosts a folded host list such as `web[1-100000]` may expand to.
pub const MAX_EXPANDED_HOSTS: usize = MAX_HOSTS;
