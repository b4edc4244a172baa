//! The kernel's settings, each a magic: `%strict`, `%timeout`, `%header`, `%term`,
//! `%output-limit`, `%param`; and `%help`.

use std::time::Duration;

use super::args::{Args, is_name};
use super::magic::{Magic, Spec};
use crate::failure::MagicError;
use crate::hosts::MAX_TERM_SIDE;
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;

pub(super) const STRICT: Spec = Spec {
    name: "strict",
    usage: "%strict on|off",
    description: "run cells under `set -eo pipefail`, so any failure fails the cell (default off)",
    parse: |a| a.on_off().map(Magic::Strict),
};

pub(super) const TIMEOUT: Spec = Spec {
    name: "timeout",
    usage: "%timeout SECONDS|off",
    description: "interrupt a cell that runs longer than SECONDS (also 90s, 5m, 1h; default off)",
    parse: parse_timeout,
};

pub(super) const HEADER: Spec = Spec {
    name: "header",
    usage: "%header on|off",
    description: "start each cell's output with where and when it ran (default on)",
    parse: |a| a.on_off().map(Magic::Header),
};

pub(super) const HELP: Spec = Spec {
    name: "help",
    usage: "%help [MAGIC]",
    description: "show this list, or what MAGIC does",
    parse: |a| {
        Ok(match a.optional_word()? {
            Some(name) => Magic::HelpOn(name),
            None => Magic::Help,
        })
    },
};

pub(super) const LSMAGIC: Spec = Spec {
    name: "lsmagic",
    usage: "%lsmagic",
    description: "show this list",
    parse: |a| a.none().map(|()| Magic::Help),
};

pub(super) const PARAM: Spec = Spec {
    name: "param",
    usage: "%param NAME VALUE",
    description: "set NAME to VALUE in every target's shell; {NAME} in a magic's arguments becomes VALUE",
    parse: parse_param,
};

pub(super) const TERM: Spec = Spec {
    name: "term",
    usage: "%term COLSxROWS",
    description: "set the terminal size cells run in, such as %term 120x40",
    parse: parse_term,
};

pub(super) const OUTPUT_LIMIT: Spec = Spec {
    name: "output-limit",
    usage: "%output-limit SIZE|off",
    description: "beyond SIZE (10MB, 512k, 1G: powers of 1000; 64MiB: of 1024; or bytes) a cell's output is saved to a file, not sent",
    parse: parse_output_limit,
};

impl Engine {
    pub(super) fn set_strict(&self, on: bool, out: &mut StreamOut<'_>) {
        self.state().settings.strict = on;
        out.text(if on {
            "strict mode on: cells run under set -eo pipefail; a failing command fails the cell\n"
        } else {
            "strict mode off\n"
        });
    }

    pub(super) fn set_timeout(&self, secs: Option<u64>, out: &mut StreamOut<'_>) {
        self.state().settings.timeout = secs.map(Duration::from_secs);
        out.text(&match secs {
            Some(s) => format!("cells running longer than {s} s are interrupted\n"),
            None => "no cell timeout\n".into(),
        });
    }

    pub(super) fn set_param(&self, name: String, value: String) {
        let mut st = self.state();
        for h in st.hosts.values_mut() {
            h.context.set_param(&name, &value);
        }
        st.params.insert(name, value);
    }

    pub(super) fn set_term(&self, cols: u16, rows: u16, out: &mut StreamOut<'_>) {
        let mut st = self.state();
        st.settings.cols = cols;
        st.settings.rows = rows;
        out.text(&format!("terminal size {cols}x{rows}\n"));
    }

    pub(super) fn set_output_limit(&self, limit: Option<u64>, out: &mut StreamOut<'_>) {
        self.state().settings.output_limit = limit;
        out.text(&match limit {
            Some(n) => format!(
                "output limit {}: beyond it, a cell shows a live tail and keeps its complete output in a file\n",
                crate::size::format(n)
            ),
            None => "output limit off: every line goes to the notebook\n".to_owned(),
        });
    }
}

fn parse_timeout(a: &Args) -> Result<Magic, MagicError> {
    let detail = "takes a number of seconds or off";
    let word = a.one_word(detail)?;
    if word.eq_ignore_ascii_case("off") {
        return Ok(Magic::Timeout(None));
    }
    match parse_seconds(&word) {
        Some(0) => Err(a.usage(format!("{detail}; use off rather than 0"))),
        Some(seconds) => Ok(Magic::Timeout(Some(seconds))),
        None => Err(a.usage(format!("{detail} (got {word:?})"))),
    }
}

fn parse_output_limit(a: &Args) -> Result<Magic, MagicError> {
    let detail = "takes a size such as 10MB, 512k, 1G (powers of 1000), 64MiB (of 1024) or a number of bytes, or off";
    let word = a.one_word(detail)?;
    if word.eq_ignore_ascii_case("off") {
        return Ok(Magic::OutputLimit(None));
    }
    match crate::size::parse(&word) {
        Some(0) => Err(a.usage(format!("{detail}; use off rather than 0"))),
        Some(bytes) => Ok(Magic::OutputLimit(Some(bytes))),
        None => Err(a.usage(format!("{detail} (got {word:?})"))),
    }
}

fn parse_term(a: &Args) -> Result<Magic, MagicError> {
    let detail = format!("takes the size as COLSxROWS, each from 1 to {MAX_TERM_SIDE}");
    let word = a.one_word(&detail)?;
    let side = |s: &str| {
        s.parse::<u16>()
            .ok()
            .filter(|n| (1..=MAX_TERM_SIDE).contains(n))
    };
    let size = word
        .split_once(['x', 'X'])
        .and_then(|(c, r)| Some((side(c)?, side(r)?)));
    match size {
        Some((cols, rows)) => Ok(Magic::Term { cols, rows }),
        None => Err(a.usage(format!("{detail}, such as 120x40 (got {word:?})"))),
    }
}

fn parse_param(a: &Args) -> Result<Magic, MagicError> {
    let (name, value) = a.split_first();
    if name.is_empty() || value.is_empty() {
        return Err(a.usage("needs a name and a value"));
    }
    if !is_name(name) {
        return Err(a.usage(format!(
            "needs a shell variable name (letters, digits and _, not first a digit), not {name:?}"
        )));
    }
    Ok(Magic::Param {
        name: name.to_string(),
        value: Args::rest_value(value),
    })
}

/// Parses `90`, `90s`, `5m`, `2h` into seconds.
fn parse_seconds(text: &str) -> Option<u64> {
    let (digits, multiplier) = match text.as_bytes().last()? {
        b's' | b'S' => (&text[..text.len() - 1], 1),
        b'm' | b'M' => (&text[..text.len() - 1], 60),
        b'h' | b'H' => (&text[..text.len() - 1], 3600),
        _ => (text, 1),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}
