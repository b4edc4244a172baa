//! The outputs of one fleet cell, folded as `clubak`/`dshbak -c` fold them: hosts whose
//! output (and outcome) is identical share one block. Bounded in memory: outputs are
//! grouped by their SHA-256, each distinct output is kept once, and the bytes kept have a
//! cap; an output beyond it is not kept (`Added::NotKept`), and the caller, who still has
//! it, writes it to a file and says where (`Fold::spilled`). An output the caller has
//! already put in a file (a host that went over the output limit while running) comes in
//! as `Output::InFile`.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// How a host's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    Failed {
        exit_code: i32,
    },
    /// No connection; the message says why.
    Unreachable {
        message: String,
    },
}

impl Status {
    pub fn is_ok(&self) -> bool {
        matches!(self, Status::Ok)
    }
}

/// A host's output, as the caller has it.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    Text(&'a [u8]),
    /// Already written to a file by the caller.
    InFile {
        path: &'a str,
        bytes: u64,
    },
}

/// What [`Fold::add`] did with an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new output, kept.
    Kept,
    /// The same as an earlier host's: nothing more kept.
    Same,
    /// Over the cap: not kept. Write it to a file and call [`Fold::spilled`].
    NotKept,
    /// Recorded as in a file.
    InFile,
}

/// What a block shows below its hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(Vec<u8>),
    InFile {
        path: String,
        bytes: u64,
    },
    /// Over the cap and not (yet) written to a file by the caller.
    NotKept {
        bytes: u64,
    },
}

/// Hosts with one output and outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub hosts: Vec<String>,
    pub status: Status,
    pub body: Body,
}

/// One host's line of the summary table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub host: String,
    pub status: Status,
    /// As measured by the caller.
    pub duration_ms: u64,
}

/// The folded outputs of one cell.
#[derive(Debug, Clone)]
pub struct Fold {
    cap: usize,
    held: usize,
    blocks: Vec<Block>,
    by_output: HashMap<([u8; 32], Status), usize>,
    /// Block of each host.
    host_block: HashMap<String, usize>,
    rows: Vec<Row>,
}

impl Fold {
    /// A fold that keeps at most `cap` bytes of distinct outputs.
    pub fn new(cap: usize) -> Fold {
        Fold {
            cap,
            held: 0,
            blocks: Vec::new(),
            by_output: HashMap::new(),
            host_block: HashMap::new(),
            rows: Vec::new(),
        }
    }

    /// Records a host's result. A host added twice keeps its first result.
    pub fn add(
        &mut self,
        host: &str,
        status: Status,
        output: Output<'_>,
        duration_ms: u64,
    ) -> Added {
        if self.host_block.contains_key(host) {
            return Added::Same;
        }
        self.rows.push(Row {
            host: host.to_owned(),
            status: status.clone(),
            duration_ms,
        });
        let (block, added) = match output {
            Output::InFile { path, bytes } => {
                let body = Body::InFile {
                    path: path.to_owned(),
                    bytes,
                };
                (self.new_block(host, status, body), Added::InFile)
            }
            Output::Text(text) => {
                let key = (Sha256::digest(text).into(), status.clone());
                if let Some(&b) = self.by_output.get(&key) {
                    self.blocks[b].hosts.push(host.to_owned());
                    (b, Added::Same)
                } else if self.held.saturating_add(text.len()) <= self.cap {
                    self.held += text.len();
                    let b = self.new_block(host, status, Body::Text(text.to_vec()));
                    self.by_output.insert(key, b);
                    (b, Added::Kept)
                } else {
                    let body = Body::NotKept {
                        bytes: text.len() as u64,
                    };
                    (self.new_block(host, status, body), Added::NotKept)
                }
            }
        };
        self.host_block.insert(host.to_owned(), block);
        added
    }

    /// Where the caller wrote an output that was not kept; false if `host`'s output was
    /// kept or the host is unknown.
    pub fn spilled(&mut self, host: &str, path: &str) -> bool {
        let Some(&b) = self.host_block.get(host) else {
            return false;
        };
        let block = &mut self.blocks[b];
        let Body::NotKept { bytes } = block.body else {
            return false;
        };
        block.body = Body::InFile {
            path: path.to_owned(),
            bytes,
        };
        true
    }

    fn new_block(&mut self, host: &str, status: Status, body: Body) -> usize {
        self.blocks.push(Block {
            hosts: vec![host.to_owned()],
            status,
            body,
        });
        self.blocks.len() - 1
    }

    /// Bytes of output kept.
    pub fn held(&self) -> usize {
        self.held
    }

    /// The blocks, each one's hosts in natural order (`web2` before `web10`), blocks in
    /// the order of their first host: the same whatever order the hosts finished in.
    pub fn blocks(&self) -> Vec<Block> {
        let mut blocks = self.blocks.clone();
        for b in &mut blocks {
            b.hosts
                .sort_by_cached_key(|h| super::hostlist::natural_key(h));
        }
        blocks.sort_by_cached_key(|b| super::hostlist::natural_key(&b.hosts[0]));
        blocks
    }

    /// The summary rows: unreachable hosts, then failed ones, then the rest, each part in
    /// natural host order.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows = self.rows.clone();
        rows.sort_by_cached_key(|r| {
            let rank = match r.status {
                Status::Unreachable { .. } => 0,
                Status::Failed { .. } => 1,
                Status::Ok => 2,
            };
            (rank, super::hostlist::natural_key(&r.host))
        });
        rows
    }
}
