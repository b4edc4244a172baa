//! The runner script: what the target's bash runs for a cell. Pure text generation.
//!
//! The PTY process starts [`BOOTSTRAP`], which reads a length line and then exactly that
//! many bytes from the terminal and evaluates them at the top level of the shell (so
//! `declare` makes globals). The kernel writes `"<len>\n<payload>"` into the PTY, which
//! the target created with echo and canonical mode off; the payload's first command turns
//! the terminal back into a normal one for the cell. Where the kernel sends nothing more
//! until the shell answers (a login, a first stage), the shell reads its payload as one
//! quoted line instead ([`LINE_BOOTSTRAP`], [`LOGIN_BOOTSTRAP`], [`frame`]): no `head`
//! process to start.
//!
//! A cell's payload comes in one piece ([`cell_payload`]) or in two stages, so that most of
//! the work is done before the cell is known: after a cell ends, the kernel starts the next
//! cell's shell and sends it [`prepare_payload`] (the terminal turned on, the context's
//! state restored, the capture defined), which ends by printing a ready marker and waiting
//! for the second stage ([`second_stage`]: definitions, the cell's code, the capture). The
//! shell reads that with `read -s`, so the terminal does not echo it.

use crate::demux::{ctx_marker, end_marker, ready_marker, start_marker, stay_marker};
use crate::model::{CELL_OPTIONS, Context, DISPLAY_HELPERS, Dialect, is_restored_name};
use crate::posix;
use crate::quote::ansi_c_quote;

/// Run by the login shell of the target (any of sh, bash, fish, tcsh: one `exec`, single
/// quotes only). `head -c` reads in blocks and never past the payload. `read -n` matters:
/// without a count, bash's `read` reads a terminal ahead in blocks, swallowing the payload
/// and whatever follows it (keys for the cell's program). The length's variable is unset
/// before the payload runs (the command substitution is expanded first): the cell must not
/// find it, as a terminal's shell would not.
pub const BOOTSTRAP: &str = r#"exec bash --noprofile --norc -c 'read -r -n 20 __sshpty_n && eval "unset __sshpty_n; $(head -c "$__sshpty_n")"'"#;

/// For a payload nothing follows until the shell answers ([`frame`]: a login's, a first
/// stage's): one line, `$'…'`-quoted ([`line_framed`]), read by bash's own `read` in blocks
/// (a block of 4 KB per system call), then unquoted and run by `eval`. It saves the `head`
/// process of [`BOOTSTRAP`], a fork and an exec on the host for each login and each shell
/// started ahead. Bytes after the line in the same block would be lost, hence only where
/// the kernel waits for the shell's ready or capture marker before it sends more.
pub const LINE_BOOTSTRAP: &str = r#"exec bash --noprofile --norc -c 'IFS= read -r __sshpty_l && eval "unset __sshpty_l; eval $__sshpty_l"'"#;

/// [`LINE_BOOTSTRAP`] as an interactive login shell: reads the profile files and
/// ~/.bashrc, so the captured environment is what a terminal login sets up (aliases
/// included). The profile may have turned line editing back on: the login payload's line
/// stays under the terminal's 4 KB line limit.
pub const LOGIN_BOOTSTRAP: &str =
    r#"exec bash -l -i -c 'IFS= read -r __sshpty_l && eval "unset __sshpty_l; eval $__sshpty_l"'"#;

/// For hosts without bash: the same protocol in POSIX sh. `read` of busybox sh and dash
/// reads a terminal one byte at a time, so the length line leaves the payload unread.
pub const SH_BOOTSTRAP: &str = r#"exec sh -c 'read -r n && eval "$(head -c "$n")"'"#;
/// As a login shell (reads /etc/profile and ~/.profile).
pub const SH_LOGIN_BOOTSTRAP: &str = r#"exec sh -l -c 'read -r n && eval "$(head -c "$n")"'"#;

/// The bootstrap for a cell in `ctx`'s shell.
pub fn bootstrap(ctx: &Context) -> &'static str {
    match ctx.dialect {
        Dialect::Bash => BOOTSTRAP,
        Dialect::Sh => SH_BOOTSTRAP,
    }
}

/// The terminal modes the target's PTY starts without (see `target`), turned back on.
const TERMINAL_ON: &str = "stty echo icanon isig iexten ixon icrnl 2>/dev/null\n";

/// Variables a cell's shell gets when the context does not say otherwise.
const DEFAULTS: &str = r#": "${LANG:=C.UTF-8}" "${PAGER:=cat}" "${GIT_PAGER:=cat}" "${SYSTEMD_PAGER:=cat}" "${MANPAGER:=cat}"
export LANG PAGER GIT_PAGER SYSTEMD_PAGER MANPAGER
"#;

/// The capture function: prints the state framed by the nonce. Builtins only and one
/// call each for all variables (`declare -p`) and all functions (`declare -F` for the
/// names, `declare -f` for the text; `capture` splits it): no subshell, no loop over
/// variables. `set +o` is printed first, before the function changes any option. No
/// `local` comes before `declare -p`, which would print the local instead of the user's
/// variable (IFS).
fn capture_function(nonce: &str, login: bool) -> String {
    // printf formats of `ctx_marker` and `end_marker` (`\0E\x1f<nonce>\0ESC \`), the nonce
    // taken from `__sshpty_nonce`: a shell that stays for the next cell gets that cell's
    // nonce by one short assignment rather than this whole function again (its stage is
    // read a byte at a time: about 1 µs a byte).
    let ctx = "\\033_sshpty;%s;ctx;";
    let end = "\\0E\\037%s\\0\\033\\\\";
    debug_assert_eq!(
        ctx_marker(nonce),
        format!("\x1b_sshpty;{nonce};ctx;").into_bytes()
    );
    debug_assert_eq!(
        end_marker(nonce),
        format!("\0E\x1f{nonce}\0\x1b\\").into_bytes()
    );
    debug_assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    // At login, where each function was defined (`declare -F` with extdebug), so those of
    // bash-completion are left out (`model`). The names come from a subshell, forked only
    // when the profile defined a function at all (most hosts' does not).
    let login_files = if login {
        "  local IFS=$' \\t\\n'\n  shopt -s extdebug\n  if compgen -A function -X '__sshpty*' >/dev/null; then for __sshpty_n in $(compgen -A function -X '__sshpty*'); do printf 'L\\037%s\\037' \"$__sshpty_n\"; declare -F -- \"$__sshpty_n\"; printf '\\0'; done; fi\n  shopt -u extdebug\n"
    } else {
        ""
    };
    format!(
        r#"__sshpty_nonce={nonce}
__sshpty_capture() {{
  printf '{ctx}\n\t;S\037%s\0O\037' "$__sshpty_nonce" "$1"
  set +o
  set +euxv -f +o pipefail
  trap - INT
  printf '\0D\037%s\0M\037' "$PWD"
  umask
  printf '\0H\037'
  shopt -p
  printf '\0P\037'
  declare -p
  printf '\0N\037'
  declare -F
  printf '\0G\037'
  declare -f
  printf '\0'
{login_files}  for __sshpty_n in "${{!BASH_ALIASES[@]}}"; do
    printf 'A\037%s\037%s\0' "$__sshpty_n" "${{BASH_ALIASES[$__sshpty_n]}}"
  done
  printf '{end}' "$__sshpty_nonce"
}}
"#
    )
}

fn start_line(nonce: &str) -> String {
    let start = String::from_utf8_lossy(&start_marker(nonce)).replace('\x1b', "\\033");
    format!("printf '{start}%s;%s\\033\\\\' \"$$\" \"${{__sshpty_cdfail:-0}}\"\n")
}

/// Restore a context: no output, no option that could trace or abort it.
pub fn restore(ctx: &Context) -> Vec<u8> {
    let mut s = restore_state(ctx);
    s.extend(restore_definitions(ctx));
    s
}

/// The state part of a restore: working directory, variables, options, umask. Shell
/// options come before any definition is read, so a function using `extglob` patterns
/// parses.
pub fn restore_state(ctx: &Context) -> Vec<u8> {
    let mut s: Vec<u8> = Vec::with_capacity(ctx.size() + 1024);
    let gone = gone_exports(ctx);
    if !gone.is_empty() {
        s.extend(format!("unset -v {}\n", gone.join(" ")).as_bytes());
    }
    if !ctx.cwd.is_empty() {
        s.extend(enter_directory(&ansi_c_quote(&ctx.cwd)));
    }
    for text in ctx.vars.values() {
        s.extend(text);
        s.extend(b" 2>/dev/null\n");
    }
    let (on, off): (Vec<_>, Vec<_>) = ctx.shopts.iter().partition(|(_, v)| **v);
    for (flag, list) in [("-s", on), ("-u", off)] {
        if !list.is_empty() {
            let names: Vec<&str> = list.iter().map(|(k, _)| k.as_str()).collect();
            s.extend(format!("shopt {flag} {} 2>/dev/null\n", names.join(" ")).as_bytes());
        }
    }
    // `set -o` options, but for those set for each cell (`CELL_OPTIONS`).
    for (name, on) in &ctx.set_options {
        if !CELL_OPTIONS.contains(&name.as_str()) {
            s.extend(
                format!("set {}o {name} 2>/dev/null\n", if *on { '-' } else { '+' }).as_bytes(),
            );
        }
    }
    if !ctx.umask.is_empty() && ctx.umask.bytes().all(|b| b.is_ascii_digit()) {
        s.extend(format!("umask {}\n", ctx.umask).as_bytes());
    }
    s.extend(b"shopt -s expand_aliases\nexport TERM=xterm-256color\n");
    s
}

/// Variables the login exported that the context no longer has (a cell unset them):
/// unset again, since the cell's shell gets them from the login anew.
fn gone_exports(ctx: &Context) -> Vec<&str> {
    ctx.login_exported
        .iter()
        .filter(|n| !ctx.vars.contains_key(*n) && is_restored_name(n))
        .map(String::as_str)
        .collect()
}

/// `cd` to the directory `quoted` (quoted for the shell); one deleted since falls back to
/// its nearest existing parent, and `__sshpty_cdfail` tells the start marker so.
fn enter_directory(quoted: &[u8]) -> Vec<u8> {
    let mut s = b"__sshpty_d=".to_vec();
    s.extend(quoted);
    s.extend(
        b"\ncd -- \"$__sshpty_d\" 2>/dev/null || { __sshpty_cdfail=1; while __sshpty_d=${__sshpty_d%/*}; [ -n \"$__sshpty_d\" ] && ! cd -- \"$__sshpty_d\" 2>/dev/null; do :; done; [ -n \"$__sshpty_d\" ] || cd /; }\n",
    );
    s
}

/// The definitions part of a restore: functions and aliases.
pub fn restore_definitions(ctx: &Context) -> Vec<u8> {
    let mut s = Vec::new();
    for text in ctx.functions.values() {
        s.extend(text);
        s.push(b'\n');
    }
    for (name, value) in &ctx.aliases {
        s.extend(b"alias -- ");
        s.extend(
            ansi_c_quote(format!("{name}=").as_bytes())
                .iter()
                .chain(ansi_c_quote(value).iter()),
        );
        s.push(b'\n');
    }
    s
}

/// Options turned on just before the cell's code runs.
fn cell_options(ctx: &Context, strict: bool) -> String {
    let mut opts = String::new();
    for name in CELL_OPTIONS {
        let on = ctx.set_options.get(*name).copied().unwrap_or(false)
            || (strict && (*name == "errexit" || *name == "pipefail"));
        if on {
            opts.push_str(&format!("set -o {name}\n"));
        }
    }
    opts
}

/// The payload for one cell. `code` is run as written, by `eval` at the top level,
/// after the context is restored; the capture runs after it unless the shell exits.
pub fn cell_payload(
    ctx: &Context,
    code: &str,
    nonce: &str,
    strict: bool,
    sudo_marker: Option<&str>,
) -> Vec<u8> {
    if ctx.dialect == Dialect::Sh {
        return sh_cell_payload(ctx, code, nonce, strict, sudo_marker);
    }
    let mut p = Vec::with_capacity(code.len() + ctx.size() + 4096);
    p.extend(TERMINAL_ON.as_bytes());
    p.extend(restore_state(ctx));
    p.extend(capture_function(nonce, false).as_bytes());
    p.extend(cell_body(ctx, code, nonce, strict, sudo_marker, false));
    p
}

/// What runs once the state is restored: the definitions, the cell, the capture.
/// `definitions_kept`: the shell holds the context's definitions and the display helpers
/// already (see `Staging::definitions_kept`).
fn cell_body(
    ctx: &Context,
    code: &str,
    nonce: &str,
    strict: bool,
    sudo_marker: Option<&str>,
    definitions_kept: bool,
) -> Vec<u8> {
    // A second stage arrives in variables of its own (`second_stage`): gone before the cell
    // runs, so the cell sees the same names whichever way its shell was started.
    let mut p = b"unset __sshpty_s __sshpty_c\n".to_vec();
    if !definitions_kept {
        p.extend(restore_definitions(ctx));
    }
    if let Some(marker) = sudo_marker
        && !ctx.functions.contains_key("sudo")
    {
        p.extend(sudo_wrapper(marker));
    }
    // Ctrl-C ends the cell as in a terminal, keeping what the cell changed so far.
    if !definitions_kept {
        p.extend(display_helpers(ctx).as_bytes());
    }
    p.extend(b"trap '{ __sshpty_capture 130; } 2>/dev/null; exit 130' INT\n");
    p.extend(start_line(nonce).as_bytes());
    p.extend(b"__sshpty_cell=");
    p.extend(ansi_c_quote(code.as_bytes()));
    p.extend(b"\n__sshpty_pre=");
    p.extend(ansi_c_quote(cell_options(ctx, strict).as_bytes()));
    // The options are set inside the eval, so `set -x` traces the cell, not the runner.
    // The runner's own copies of the code are dropped before the capture prints every
    // variable (they are not restored anyway).
    p.extend(b"\neval \"$__sshpty_pre$__sshpty_cell\"\n{ __sshpty_st=$?; unset __sshpty_cell __sshpty_pre __sshpty_s __sshpty_c; __sshpty_capture $__sshpty_st; } 2>/dev/null\n");
    // The shell's exit hangs up the terminal at once; a job just started in the background
    // (`nohup cmd &`) gets a moment to set itself up first, as it would in a terminal that
    // is not closed in the same millisecond.
    p.extend(b"[ -z \"$!\" ] || sleep 0.2\n");
    p
}

/// Ends a second stage: a control character that armored text never contains and that
/// no terminal setting acts on (not a signal, flow-control or line-editing key).
/// The display helpers, defined for each cell (bash). Each prints one display frame
/// (`terminal::inline`): the cell's nonce, the kind, the id and the content in base64, which
/// the kernel takes out of the output. The nonce comes from `__sshpty_nonce`, a variable
/// that is never exported and never in an argument (`printf` is a builtin), so no program the
/// cell starts can write a frame of its own. They are not carried in the context
/// (`model::is_display_helper`), and a function of the user's with one of their names wins: it
/// is not replaced. Builtins and `command` are escaped, so an alias of the user's (aliases are
/// restored before this) does not change them. `NOTEBOOK_BASH_KERNEL_CAPABILITIES` tells
/// scripts written for bash_kernel what may be shown, as there (without `javascript`).
fn display_helpers(ctx: &Context) -> String {
    let mut s = String::from(
        "export NOTEBOOK_BASH_KERNEL_CAPABILITIES=image,html\n\
         __sshpty_show() { if \\builtin test -t 0; then \\builtin printf '%s: reads what it shows on its standard input (%s < FILE, or a pipe)\\n' \"$1\" \"$1\" >&2; return 2; fi; \\builtin printf '\\033_sshpty;%s;show;%s;' \"$__sshpty_nonce\" \"$2\"; \\builtin printf '%s' \"$3\" | \\command base64; \\builtin printf ';'; \\command base64; \\builtin printf '\\033\\\\'; }\n",
    );
    for (name, kind) in DISPLAY_HELPERS.iter().zip(["image", "html", "js"]) {
        if !ctx.functions.contains_key(*name) {
            s.push_str(&format!(
                "{name}() {{ __sshpty_show {name} {kind} \"${{1-}}\"; }}\n"
            ));
        }
    }
    s
}

/// The display helpers in POSIX sh (see [`display_helpers`]). The nonce is a variable of the
/// shell's, never exported; functions are never carried in sh (`posix`), so a user's own
/// `display` simply replaces these for the rest of its cell.
fn sh_display_helpers(nonce: &str) -> String {
    debug_assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    let mut s = format!(
        "__sshpty_nonce={nonce}\n\
         NOTEBOOK_BASH_KERNEL_CAPABILITIES=image,html; export NOTEBOOK_BASH_KERNEL_CAPABILITIES\n\
         __sshpty_show() {{ if test -t 0; then printf '%s: reads what it shows on its standard input (%s < FILE, or a pipe)\\n' \"$1\" \"$1\" >&2; return 2; fi; printf '\\033_sshpty;%s;show;%s;' \"$__sshpty_nonce\" \"$2\"; printf '%s' \"$3\" | command base64; printf ';'; command base64; printf '\\033\\\\'; }}\n"
    );
    for (name, kind) in DISPLAY_HELPERS.iter().zip(["image", "html", "js"]) {
        s.push_str(&format!(
            "{name}() {{ __sshpty_show {name} {kind} \"${{1-}}\"; }}\n"
        ));
    }
    s
}

pub const STAGE_END: u8 = 0x1e;
/// Starts a second stage, after a newline: the same kind of character as [`STAGE_END`].
/// The reader keeps only what follows the last one, so whatever waited in the terminal's
/// input before the stage (a terminal reply to a query in the last cell's output that its
/// program did not stay to read, keys typed ahead) is dropped rather than run. The newline
/// ends such a line, should the terminal still be in line mode and that line full.
pub const STAGE_START: u8 = 0x1d;

/// The first stage of a cell, sent before the cell is known (bash only): the terminal
/// turned on, `state` (`ctx`'s [`restore_state`], which the kernel also keeps to tell
/// whether the shell still fits the context when the cell comes) restored, the capture and
/// the runner's helpers defined, then `ctx`'s functions and aliases and the display helpers.
/// Then the ready marker, and one `read -s` of the second stage up to [`STAGE_END`]: a single
/// read, so the terminal's echo is off from before the stage arrives until after its last
/// byte (bash turns echo back on when a read ends).
///
/// The definitions (`definitions`: `ctx`'s [`restore_definitions`]) come here rather than
/// with the cell: the bootstrap reads this stage in blocks (as one line, [`frame`]), the
/// second stage a byte per system call.
pub fn prepare_payload(ctx: &Context, state: &[u8], definitions: &[u8], nonce: &str) -> Vec<u8> {
    // printf format of `ready_marker`.
    let ready = format!("\\033_sshpty;{nonce};ready\\033\\\\");
    debug_assert_eq!(
        ready_marker(nonce),
        format!("\x1b_sshpty;{nonce};ready\x1b\\").into_bytes()
    );
    let mut p = Vec::with_capacity(state.len() + 4096);
    p.extend(TERMINAL_ON.as_bytes());
    p.extend(state);
    p.extend(capture_function(nonce, false).as_bytes());
    p.extend(runner_helpers().as_bytes());
    p.extend(definitions);
    p.extend(display_helpers(ctx).as_bytes());
    p.extend(format!("printf '{ready}'\n__sshpty_read && {EVAL_STAGE}\n").as_bytes());
    p
}

/// Runs the stage [`runner_helpers`]' `__sshpty_read` took, at the top level (an `eval` in a
/// function would make the cell's `declare` local to it).
const EVAL_STAGE: &str = "\\builtin eval \"$__sshpty_c\"";

/// Functions a shell that ran [`prepare_payload`] keeps for its second stages, which are read
/// a byte per system call (`read -d`): each names here what would otherwise come with every
/// cell.
///
/// - `__sshpty_read`: reads a second stage into `__sshpty_c`, one `read -s` up to
///   [`STAGE_END`], keeping what follows its [`STAGE_START`]. The usual stage starts right
///   away (a substring, no pattern); with something before it, the shortest prefixes
///   through a STAGE_START are cut until none is left. (`${c##*X}` would do it in one go,
///   but bash tries every prefix against `*X`: 14 ms for a 4 KB stage.)
/// - `__sshpty_stay`: a shell that stays says so and reads the next stage (see
///   [`Staging::stay`]); false if it does not stay.
/// - `__sshpty_enter DIR`: [`enter_directory`].
fn runner_helpers() -> String {
    let (start, end) = (STAGE_START, STAGE_END);
    format!(
        "__sshpty_read() {{ IFS= \\builtin read -r -s -d $'\\x{end:02x}' __sshpty_c && {{ if [[ ${{__sshpty_c:0:2}} == $'\\n\\x{start:02x}' ]]; then __sshpty_c=${{__sshpty_c:2}}; else while [[ $__sshpty_c == *$'\\x{start:02x}'* ]]; do __sshpty_c=${{__sshpty_c#*$'\\x{start:02x}'}}; done; fi; }}; }}\n\
         __sshpty_stay() {{ \\builtin test -z \"$!\" -a -t 0 -a -t 1 && \\builtin printf '\\033_sshpty;%s;stay\\033\\\\' \"$__sshpty_nonce\" && __sshpty_read; }}\n\
         __sshpty_enter() {{ {}}}\n",
        String::from_utf8(enter_directory(b"\"$1\""))
            .expect("ASCII")
            .replace('\n', "; ")
    )
}

/// How a second stage is to be run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Staging {
    /// The shell is one that stayed after an earlier cell (see `stay`): its capture
    /// prints that cell's nonce, so the stage sets this one's.
    pub reused: bool,
    /// After the capture, the shell stays for the next cell rather than exiting: it prints
    /// [`stay_marker`](crate::demux::stay_marker) and reads the next second stage. Not if
    /// the cell left a job in the background (`$!`): such a shell exits as before, and the
    /// hang-up reaches the job as it would when a terminal closes. Nor if its input or
    /// output is no longer the terminal (`exec >file`): the kernel could not see it stay,
    /// and waits for its exit instead. Builtins by name, past any alias or function.
    pub stay: bool,
    /// For a shell that stayed: the terminal's modes go back to what a new one has (`stty
    /// sane`) before anything else, because the last cell may have changed them (the kernel
    /// saw a program take the terminal, or gave it input, or the cell may run `stty`): a
    /// program that died in raw mode leaves the next cell's output as intact as a fresh PTY
    /// does. The stage itself is read whatever the modes (`read -s -d` sets its own). Not
    /// otherwise: `stty` is a process, as much as the cell's own command in a short cell.
    pub reset_terminal: bool,
    /// The shell holds the context's functions and aliases, and the display helpers, so
    /// they are not sent again: one started ahead got them with its first stage
    /// ([`prepare_payload`]), one that stayed showed them in its last capture (and the
    /// context's definitions have not changed since). The stage is read a byte per system
    /// call (`read -d`): what it leaves out is most of a short cell's stage.
    pub definitions_kept: bool,
}

/// The second stage for a shell that ran [`prepare_payload`] with `nonce`, or stayed after
/// an earlier cell: the rest of [`cell_payload`], armored (see [`armored`]) and ended by
/// [`STAGE_END`].
pub fn second_stage(
    ctx: &Context,
    code: &str,
    nonce: &str,
    strict: bool,
    sudo_marker: Option<&str>,
    staging: Staging,
) -> Vec<u8> {
    let mut body = Vec::new();
    if staging.reused {
        if staging.reset_terminal {
            body.extend(b"\\command stty sane iutf8 2>/dev/null\n");
        }
        body.extend(format!("__sshpty_nonce={nonce}\n").as_bytes());
        // The last cell's fallback flag (see below) must not count for this one.
        body.extend(b"unset __sshpty_cdfail\n");
        // The capture turned `noglob` on for itself (`set -f`): back to the user's. (It
        // changes no other option but those set for each cell.)
        let noglob = ctx.set_options.get("noglob").copied().unwrap_or(false);
        body.extend(if noglob {
            &b"set -f\n"[..]
        } else {
            &b"set +f\n"[..]
        });
        // The directory the last cell left may be gone (it deleted it, or something else
        // did since): then the cell runs in its nearest existing parent, as a fresh
        // shell's restore would put it, and says so.
        if !ctx.cwd.is_empty() {
            body.extend(b"\\builtin test -d \"$PWD\" -a -x \"$PWD\" || __sshpty_enter ");
            body.extend(ansi_c_quote(&ctx.cwd));
            body.push(b'\n');
        }
    }
    body.extend(cell_body(
        ctx,
        code,
        nonce,
        strict,
        sudo_marker,
        staging.definitions_kept,
    ));
    let mut p = vec![b'\n', STAGE_START];
    p.extend(armored("__sshpty_s", &body));
    p.extend(b"eval \"$__sshpty_s\"\n");
    if staging.stay {
        // `__sshpty_stay` prints `stay_marker` with the nonce in `__sshpty_nonce`.
        debug_assert_eq!(
            stay_marker(nonce),
            format!("\x1b_sshpty;{nonce};stay\x1b\\").into_bytes()
        );
        p.extend(format!("if __sshpty_stay; then {EVAL_STAGE}; fi\n").as_bytes());
    }
    p.push(STAGE_END);
    p
}

/// Bytes of a raw armored line at most: quoted, a line stays under the 4095 bytes a
/// terminal in canonical mode keeps of one line.
const ARMOR_CHUNK: usize = 512;

/// Shell lines setting `name` to `bytes`, made of printable ASCII and short lines only
/// (control characters, DEL and bytes ≥ 0x80 as `\xHH`). Should a stage arrive before the
/// shell's `read` has turned the terminal's line editing off, such text still passes the
/// terminal unchanged.
pub fn armored(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8 + 64);
    if bytes.is_empty() {
        out.extend(format!("{name}=''\n").as_bytes());
    }
    for (i, chunk) in bytes.chunks(ARMOR_CHUNK).enumerate() {
        out.extend(name.as_bytes());
        out.extend(if i == 0 { &b"=$'"[..] } else { &b"+=$'"[..] });
        for &b in chunk {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\'' => out.extend_from_slice(b"\\'"),
                b'\n' => out.extend_from_slice(b"\\n"),
                0x20..=0x7e => out.push(b),
                0 => {}
                _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        out.extend_from_slice(b"'\n");
    }
    out
}

/// `sudo` as the cell's shell runs it: sudo with a prompt that carries the cell's marker,
/// so the kernel knows the prompt is sudo's own (and may answer it with a remembered
/// password). SUDO_PROMPT is set for sudo alone: not exported to the cell's other programs,
/// and not in sudo's arguments, which every user can read in `/proc`. The function is left
/// out of the captured context (see `Context::apply`).
pub fn sudo_wrapper(marker: &str) -> Vec<u8> {
    let mut w = b"sudo() { SUDO_PROMPT=".to_vec();
    w.extend(ansi_c_quote(
        terminal::prompt::sudo_prompt_argument(marker).as_bytes(),
    ));
    w.extend(b" command sudo \"$@\"; }\n");
    w
}

/// `%become USER`: the cell's payload run by a bash that sudo starts as USER. The login
/// user's shell reads the payload as usual and hands it to the new shell on its standard
/// input (not in its arguments, which `ps` shows); that shell then takes the terminal as
/// its input, so the cell's programs see a terminal as always. sudo's password prompt
/// carries the cell's marker, as the `sudo` of a cell does.
pub fn become_payload(inner: &[u8], user: &str, sudo_marker: &str) -> Vec<u8> {
    let mut p = TERMINAL_ON.as_bytes().to_vec();
    p.extend(b"__sshpty_inner=");
    p.extend(ansi_c_quote(inner));
    p.extend(b"\nSUDO_PROMPT=");
    p.extend(ansi_c_quote(
        terminal::prompt::sudo_prompt_argument(sudo_marker).as_bytes(),
    ));
    p.extend(b" exec sudo -u ");
    p.extend(ansi_c_quote(user.as_bytes()));
    p.extend(
        b" -- bash --noprofile --norc -c 'eval \"$(cat)\" </dev/tty' <<< \"$__sshpty_inner\"\n",
    );
    p
}

/// The payload run once at login, in an interactive login shell: capture what the
/// profile files set up.
///
/// Then, in a terminal, the session goes on as a cell's shell would start: the terminal's
/// modes are put back to those the target gives a new PTY (`targets`' quiet modes: no echo,
/// no line editing, no signal keys), the shell says it stays (the stay marker, right after
/// the capture) and becomes [`LINE_BOOTSTRAP`]'s bash, waiting for a line. The kernel
/// sends it the first stage of the next cell ([`prepare_payload`], restoring the context
/// just captured), so a login costs the host one session rather than two (one to read the
/// environment, one for the first cell): a fleet's first run (`%on`) and a `%login`'s first
/// cell wait for one session less. Without a terminal (or `stty`) the shell just ends.
pub fn login_payload(nonce: &str) -> Vec<u8> {
    // No `TERMINAL_ON`: the profile ran before this payload, and nothing here reads the
    // terminal or cares how it echoes.
    let mut p = String::new();
    p.push_str("shopt -s expand_aliases\n");
    p.push_str(DEFAULTS);
    p.push_str(&capture_function(nonce, true));
    p.push_str(&start_line(nonce));
    p.push_str("{ __sshpty_capture 0; } 2>/dev/null\n");
    // printf format of `stay_marker`. Builtins by name: the profile's aliases and functions
    // are defined by now. A BASH_ENV the profile exported is not run by the new bash (a new
    // session's is not either); the restore gives it back. The interactive shell's own
    // signal settings (SIGQUIT and SIGTERM ignored) do not pass: bash's `exec` puts back the
    // dispositions it started with, so the new bash and what it runs have SIGQUIT as in a
    // new session (test_staying checks it; no `env --default-signal`, a process more per
    // login).
    let bash = LINE_BOOTSTRAP
        .strip_prefix("exec ")
        .expect("the bootstrap is an exec");
    let stay = format!("\\033_sshpty;{nonce};stay\\033\\\\");
    debug_assert_eq!(
        stay_marker(nonce),
        format!("\x1b_sshpty;{nonce};stay\x1b\\").into_bytes()
    );
    p.push_str(&format!(
        "if \\builtin test -t 0 -a -t 1 && \\command stty {QUIET_STTY} 2>/dev/null; then \\builtin printf '{stay}'; \\builtin unset -v BASH_ENV; \\builtin exec {bash}; fi\n"
    ));
    p.into_bytes()
}

/// `stty` arguments for the modes a new PTY of the target starts with (`targets::ssh`'s
/// `QUIET_MODES`, `targets::local`): what [`BOOTSTRAP`] and [`LINE_BOOTSTRAP`] expect, so
/// their payload is neither echoed nor edited.
const QUIET_STTY: &str = "sane -echo -icanon -isig -iexten -ixon -icrnl iutf8 min 1 time 0";

/// The capture function in POSIX sh: status, working directory, umask, `export -p`, in
/// the records `capture` reads (the variables in one `X` record). Builtins only.
fn sh_capture_function(nonce: &str) -> String {
    let ctx = String::from_utf8_lossy(&ctx_marker(nonce)).replace('\x1b', "\\033");
    let end = format!("\\0E\\037{nonce}\\0\\033\\\\");
    format!(
        r#"__sshpty_capture() {{
  __sshpty_s=$1
  set +eux
  trap - INT
  printf '{ctx}\n\t;S\037%s\0D\037%s\0M\037' "$__sshpty_s" "$PWD"
  umask
  printf '\0X\037'
  export -p
  printf '{end}'
}}
"#
    )
}

/// Restore in sh: the working directory (as in bash, a deleted one falls back to its
/// nearest parent) and the scalar variables, exported ones exported.
fn sh_restore(ctx: &Context) -> Vec<u8> {
    let mut s = Vec::with_capacity(ctx.size() + 512);
    let gone = gone_exports(ctx);
    if !ctx.cwd.is_empty() {
        s.extend(enter_directory(&posix::sh_quote(&ctx.cwd)));
    }
    posix::restore_vars(ctx.vars.values(), &gone, &mut s);
    if !ctx.umask.is_empty() && ctx.umask.bytes().all(|b| b.is_ascii_digit()) {
        s.extend(format!("umask {}\n", ctx.umask).as_bytes());
    }
    s.extend(b"TERM=xterm-256color; export TERM\n");
    s
}

/// The cell payload in POSIX sh (see [`cell_payload`]): the same markers, so the cell
/// runner and the capture parser need not know which shell ran.
fn sh_cell_payload(
    ctx: &Context,
    code: &str,
    nonce: &str,
    strict: bool,
    sudo_marker: Option<&str>,
) -> Vec<u8> {
    let mut p = Vec::with_capacity(code.len() + ctx.size() + 2048);
    p.extend(TERMINAL_ON.as_bytes());
    p.extend(sh_restore(ctx));
    p.extend(sh_capture_function(nonce).as_bytes());
    if let Some(marker) = sudo_marker {
        // As `sudo_wrapper`, quoted for sh (functions are not carried in sh mode).
        p.extend(b"sudo() { SUDO_PROMPT=");
        p.extend(posix::sh_quote(
            terminal::prompt::sudo_prompt_argument(marker).as_bytes(),
        ));
        p.extend(b" command sudo \"$@\"; }\n");
    }
    p.extend(sh_display_helpers(nonce).as_bytes());
    p.extend(b"trap '{ __sshpty_capture 130; } 2>/dev/null; exit 130' INT\n");
    p.extend(start_line(nonce).as_bytes());
    p.extend(b"__sshpty_cell=");
    p.extend(posix::sh_quote(code.as_bytes()));
    // No pipefail in POSIX sh: strict is errexit there.
    p.extend(if strict {
        &b"\neval \"set -e\n$__sshpty_cell\"\n"[..]
    } else {
        &b"\neval \"$__sshpty_cell\"\n"[..]
    });
    p.extend(b"{ __sshpty_capture $?; } 2>/dev/null\n[ -z \"$!\" ] || sleep 0.2\n");
    p
}

/// The login payload in POSIX sh: what the profile set up, with the kernel's defaults.
pub fn sh_login_payload(nonce: &str) -> Vec<u8> {
    let mut p = String::new();
    p.push_str(TERMINAL_ON);
    p.push_str(DEFAULTS);
    p.push_str(&sh_capture_function(nonce));
    p.push_str(&start_line(nonce));
    p.push_str("{ __sshpty_capture 0; } 2>/dev/null\n");
    p.into_bytes()
}

/// Frame a payload for the bootstrap: `<len>\n<payload>`.
pub fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{}\n", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Frame a payload for [`LINE_BOOTSTRAP`] and [`LOGIN_BOOTSTRAP`]: one `$'…'` line (control
/// characters escaped, so a terminal in line mode does not act on them either).
pub fn line_framed(payload: &[u8]) -> Vec<u8> {
    let mut out = ansi_c_quote(payload);
    out.push(b'\n');
    out
}

/// Frame `payload` as `bootstrap` reads it.
pub fn frame(bootstrap: &str, payload: &[u8]) -> Vec<u8> {
    if reads_a_line(bootstrap) {
        line_framed(payload)
    } else {
        framed(payload)
    }
}

fn reads_a_line(bootstrap: &str) -> bool {
    bootstrap == LINE_BOOTSTRAP || bootstrap == LOGIN_BOOTSTRAP
}

/// The bootstrap to start a shell with when the kernel will send it a first stage and wait
/// for its ready marker: [`LINE_BOOTSTRAP`] in place of [`BOOTSTRAP`] (after that stage the
/// two shells are the same, reading second stages with `read -s`).
pub fn for_first_stage(bootstrap: &'static str) -> &'static str {
    if bootstrap == BOOTSTRAP {
        LINE_BOOTSTRAP
    } else {
        bootstrap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_covers_every_byte_but_nul() {
        assert_eq!(
            ansi_c_quote(b"a'b\\c\nd\x1b\xff"),
            b"$'a\\'b\\\\c\\nd\\x1b\xff'".to_vec()
        );
        assert_eq!(ansi_c_quote(b"x\0y"), b"$'xy'".to_vec());
    }

    #[test]
    fn framing_announces_the_length() {
        assert_eq!(framed(b"abc"), b"3\nabc".to_vec());
    }

    #[test]
    fn payload_keeps_values_out_of_the_bootstrap() {
        let mut ctx = Context::default();
        ctx.set_param("SECRET", "s3cr3t");
        let p = cell_payload(&ctx, "echo hi", "n0nce", false, None);
        assert!(String::from_utf8_lossy(&p).contains("s3cr3t"));
        assert!(!BOOTSTRAP.contains("s3cr3t"));
    }
}

/// The scripts run in a real bash (without a PTY: `stty` fails quietly, output
/// processing is then raw) and what they print parses back into the same state.
#[cfg(test)]
mod bash_tests {
    use super::*;
    use crate::capture;
    use crate::demux::{Demux, Event};

    /// `argv` run with `payload` on its standard input: its standard output, or None if
    /// it cannot be started (a shell that is not installed).
    pub(super) fn run_shell(argv: &[&str], payload: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write;
        let mut child = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(payload).ok()?;
        Some(child.wait_with_output().ok()?.stdout)
    }

    fn run_bash(payload: &[u8]) -> Vec<u8> {
        run_shell(&["bash", "--noprofile", "--norc", "-s"], payload).expect("bash runs")
    }

    fn cell(ctx: &Context, code: &str) -> (Vec<u8>, Option<capture::Captured>) {
        let nonce = "0123456789abcdef0123456789abcdef";
        let out = run_bash(&cell_payload(ctx, code, nonce, false, Some("m4rker")));
        events(nonce, &out)
    }

    /// The same cell in two stages: `bash -s` reads its script from standard input one
    /// line at a time, so the first stage's `read` takes the second stage from there.
    fn staged_cell(ctx: &Context, code: &str) -> (Vec<u8>, Option<capture::Captured>) {
        let nonce = "89abcdef0123456789abcdef01234567";
        let mut input = prepare_payload(ctx, &restore_state(ctx), &restore_definitions(ctx), nonce);
        // As the kernel sends it: the definitions came with the first stage.
        let staging = Staging {
            definitions_kept: true,
            ..Staging::default()
        };
        input.extend(second_stage(
            ctx,
            code,
            nonce,
            false,
            Some("m4rker"),
            staging,
        ));
        let out = run_bash(&input);
        let ready = ready_marker(nonce);
        let at = out
            .windows(ready.len())
            .position(|w| w == ready)
            .expect("the first stage says it is ready");
        events(nonce, &out[at + ready.len()..])
    }

    pub(super) fn events(nonce: &str, out: &[u8]) -> (Vec<u8>, Option<capture::Captured>) {
        let mut d = Demux::new(nonce);
        let mut ev = Vec::new();
        d.feed(out, &mut ev);
        d.finish(&mut ev);
        let mut text = Vec::new();
        let mut cap = None;
        for e in ev {
            match e {
                Event::Output(o) => text.extend(o),
                Event::Capture(c) => cap = Some(capture::parse(&c[..]).expect("capture parses")),
                _ => {}
            }
        }
        (text, cap)
    }

    /// What of a capture does not change from run to run (not pids, clocks, `$_`).
    fn stable(c: &capture::Captured) -> String {
        let vars: Vec<_> = c
            .vars
            .iter()
            .filter(|(k, _)| ["x", "E", "PWD", "OLDPWD"].contains(&k.as_str()))
            .collect();
        let text = |m: Vec<(&String, &Vec<u8>)>| -> Vec<String> {
            m.into_iter()
                .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
                .collect()
        };
        format!(
            "{} {:?} {}\n{:?}\n{:#?}\n{:#?}\n{:?}",
            c.status,
            c.cwd,
            c.umask,
            c.shopts,
            text(vars),
            text(
                c.functions
                    .iter()
                    .filter(|(k, _)| !k.starts_with("__sshpty"))
                    .collect()
            ),
            c.aliases
        )
    }

    /// `displayHTML` prints one frame with the cell's nonce, which the scanner takes; the
    /// helpers are not captured, and a function of the user's with their name is kept and
    /// not replaced.
    #[test]
    fn the_display_helpers_frame_with_the_nonce_and_are_not_carried() {
        use terminal::inline::{Frame, Kind, Piece, Scanner};
        let nonce = "0123456789abcdef0123456789abcdef";
        let out = run_bash(&cell_payload(
            &Context::default(),
            "echo a; printf '<b>x</b>' | displayHTML card; echo b",
            nonce,
            false,
            None,
        ));
        let (text, cap) = events(nonce, &out);
        let mut pieces = Vec::new();
        let mut scanner = Scanner::new(nonce);
        scanner.feed(&text, &mut pieces);
        scanner.finish(&mut pieces);
        assert_eq!(
            pieces,
            vec![
                Piece::Text(b"a\n".to_vec()),
                Piece::Frame(Frame {
                    kind: Kind::Html,
                    id: Some("card".into()),
                    data: b"<b>x</b>".to_vec()
                }),
                Piece::Text(b"b\n".to_vec()),
            ]
        );
        let mut ctx = Context::default();
        ctx.apply(cap.expect("captured"), false);
        assert!(
            DISPLAY_HELPERS
                .iter()
                .all(|n| !ctx.functions.contains_key(*n))
        );
        assert!(!ctx.vars.contains_key("NOTEBOOK_BASH_KERNEL_CAPABILITIES"));
        // The user's own `display` is carried, and wins in the next cell.
        let (_, cap) = events(
            nonce,
            &run_bash(&cell_payload(
                &ctx,
                "display() { echo mine; }",
                nonce,
                false,
                None,
            )),
        );
        ctx.apply(cap.expect("captured"), false);
        assert!(ctx.functions.contains_key("display"));
        let (text, _) = events(
            nonce,
            &run_bash(&cell_payload(&ctx, "display", nonce, false, None)),
        );
        assert_eq!(text, b"mine\n");
    }

    /// The same helpers in POSIX sh (dash here), for hosts without bash.
    #[test]
    fn the_sh_display_helpers_frame_with_the_nonce() {
        use terminal::inline::{Frame, Kind, Piece, Scanner};
        let nonce = "0123456789abcdef0123456789abcdef";
        let ctx = Context {
            dialect: Dialect::Sh,
            ..Context::default()
        };
        let payload = cell_payload(&ctx, "printf '<i>y</i>' | displayHTML", nonce, false, None);
        let Some(out) = run_shell(&["sh", "-s"], &payload) else {
            return;
        };
        let (text, _) = events(nonce, &out);
        let mut pieces = Vec::new();
        Scanner::new(nonce).feed(&text, &mut pieces);
        assert_eq!(
            pieces,
            vec![Piece::Frame(Frame {
                kind: Kind::Html,
                id: None,
                data: b"<i>y</i>".to_vec()
            })]
        );
    }

    #[test]
    fn two_stages_run_as_one() {
        let mut ctx = Context::default();
        let code = "cd /tmp; x=$'a\\nb \\x01 \\xff'; export E=1; f() { echo \"f:$1\"; }\nshopt -s extglob\ng() { case $1 in @(a|b)) echo ab;; esac; }; alias ll='echo LL'; umask 027; echo \"é $x\"";
        let (one, cap) = cell(&ctx, code);
        let (two, cap2) = staged_cell(&ctx, code);
        assert_eq!(String::from_utf8_lossy(&one), "é a\nb \x01 \u{fffd}\n");
        assert_eq!(one, two);
        let (cap, cap2) = (cap.expect("captured"), cap2.expect("captured"));
        assert_eq!(stable(&cap), stable(&cap2));
        ctx.apply(cap, false);
        // A long cell with non-ASCII and control bytes, using a function that needs extglob
        // to parse (the state, shopts included, is restored before the definitions).
        let long = format!(
            "echo {}; printf '%s|' \"$(f 1)\" \"$(g b)\" \"$PWD\" \"$(umask)\" \"$E\"\nll\necho 'é\u{1e}'",
            "y".repeat(5000)
        );
        let (one, cap) = cell(&ctx, &long);
        let (two, cap2) = staged_cell(&ctx, &long);
        let text = String::from_utf8_lossy(&two);
        assert!(
            text.ends_with("y\nf:1|ab|/tmp|0027|1|LL\né\u{1e}\n"),
            "{text}"
        );
        assert_eq!(one, two);
        assert_eq!(
            stable(&cap.expect("captured")),
            stable(&cap2.expect("captured"))
        );
        let stage = second_stage(&ctx, &long, "n", false, Some("m"), Staging::default());
        assert_eq!(stage.iter().filter(|&&b| b == STAGE_END).count(), 1);
        assert_eq!(stage.last(), Some(&STAGE_END));
        assert_eq!(stage[..2], [b'\n', STAGE_START]);
        assert!(
            stage[2..stage.len() - 1]
                .split(|&b| b == b'\n')
                .all(|l| l.len() < 4095 && l.iter().all(|&b| (0x20..0x7f).contains(&b)))
        );
    }

    /// A payload framed as each bootstrap reads it, in the C and a UTF-8 locale: it runs,
    /// every byte but NUL arrives as sent, and the bootstrap's own variable is gone.
    #[test]
    fn bootstraps_run_their_payload_exactly_and_leave_no_variable() {
        let every: Vec<u8> = (1..=255u8).collect();
        let mut payload = b"v=".to_vec();
        payload.extend(ansi_c_quote(&every));
        payload.extend(
            b"\nprintf '%s|' \"${__sshpty_n-unset}\" \"${__sshpty_l-unset}\"; printf '%s' \"$v\"",
        );
        let mut want = b"unset|unset|".to_vec();
        want.extend(&every);
        for locale in ["C", "C.UTF-8"] {
            for bootstrap in [BOOTSTRAP, LINE_BOOTSTRAP] {
                let command = format!("LC_ALL={locale}; export LC_ALL; {bootstrap}");
                let out = run_shell(&["sh", "-c", &command], &frame(bootstrap, &payload))
                    .expect("sh runs");
                assert_eq!(out, want, "{bootstrap} in {locale}");
            }
        }
        // The login's bootstrap reads as the line one does.
        assert_eq!(
            LOGIN_BOOTSTRAP.split_once(" -c ").map(|(_, r)| r),
            LINE_BOOTSTRAP.split_once(" -c ").map(|(_, r)| r)
        );
        assert!(reads_a_line(LOGIN_BOOTSTRAP) && !reads_a_line(BOOTSTRAP));
        assert_eq!(for_first_stage(BOOTSTRAP), LINE_BOOTSTRAP);
        assert_eq!(for_first_stage(SH_BOOTSTRAP), SH_BOOTSTRAP);
    }

    /// In a terminal with the modes the kernel asks for (`script` makes one), the line
    /// bootstrap reads a payload larger than the terminal's 4 KB buffer, in blocks.
    #[test]
    fn the_line_bootstrap_reads_a_long_payload_from_a_terminal() {
        use std::io::{Read, Write};
        let big = "x".repeat(20_000);
        let payload = format!("v='{big}'\necho \"got ${{#v}}\"; exit 0\n");
        // The payload is written once the modes are set, as sshd creates the terminal
        // with them (in line mode a line is cut at 4 KB).
        let command = format!(
            "stty -echo -icanon -isig -iexten -ixon -icrnl; echo quiet-now; {LINE_BOOTSTRAP}"
        );
        let Ok(mut child) = std::process::Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
        else {
            return eprintln!("no `script` here: skipped");
        };
        // A shell that never reads its line would leave this test waiting: `script` is
        // killed after 30 s (its terminal's hang-up ends the shell), so the reads below end.
        let (done, watch) = std::sync::mpsc::channel::<()>();
        let pid = child.id().to_string();
        let watchdog = std::thread::spawn(move || {
            if watch
                .recv_timeout(std::time::Duration::from_secs(30))
                .is_err()
            {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid])
                    .status();
            }
        });
        let mut stdout = child.stdout.take().expect("piped");
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while !String::from_utf8_lossy(&out).contains("quiet-now\r\n") {
            assert_eq!(
                stdout.read(&mut byte).expect("script's output"),
                1,
                "{out:?}"
            );
            out.push(byte[0]);
        }
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(&line_framed(payload.as_bytes())).unwrap();
        // `script` ends at its input's end: kept open until the shell has exited.
        stdout.read_to_end(&mut out).unwrap();
        drop(stdin);
        child.wait().unwrap();
        let _ = done.send(());
        watchdog.join().unwrap();
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("got 20000"), "{out:?}");
    }

    /// The login payload as a line fits a terminal's line (4095 bytes) should the profile
    /// have turned line editing on, and holds no control character a terminal acts on.
    #[test]
    fn the_login_line_fits_a_terminal_line() {
        let line = line_framed(&login_payload("0123456789abcdef0123456789abcdef"));
        assert!(line.len() < 4095, "{}", line.len());
        let (body, nl) = line.split_at(line.len() - 1);
        assert_eq!(nl, b"\n");
        assert!(body.iter().all(|b| (0x20..0x7f).contains(b)));
    }

    /// Cells in one shell that stays, in a terminal (`script` makes one, with the modes the
    /// kernel asks sshd for, and runs the real [`BOOTSTRAP`]): each reads the next one's
    /// stage after its capture and the stay marker, keeps the state the last one left
    /// without a restore, and prints its own nonce's markers; a cell that leaves a job in
    /// the background exits.
    #[test]
    fn a_staying_shell_runs_the_next_cells() {
        let ctx = Context::default();
        let nonces = ["aaaa0000aaaa0000", "bbbb1111bbbb1111", "cccc2222cccc2222"];
        let cells = [
            "x=1; cd /tmp; echo one; stty -onlcr",
            "echo \"two $x $PWD $$\"; x=2; [[ $- = *f* ]] && echo noglob-on; stty -onlcr",
            "echo \"three $x $$\"; sleep 0 &",
        ];
        let mut input = framed(&prepare_payload(
            &ctx,
            &restore_state(&ctx),
            &restore_definitions(&ctx),
            nonces[0],
        ));
        for (i, (nonce, code)) in nonces.iter().zip(cells).enumerate() {
            // The kernel asks for the modes to be set back after a cell that ran `stty`;
            // here only for the second cell, to show the third keeps what the second did.
            let staging = Staging {
                reused: i > 0,
                stay: true,
                reset_terminal: i == 1,
                definitions_kept: true,
            };
            if i == 1 {
                // What may wait in the terminal's input: a reply to a query the last
                // program did not read, keys typed ahead. Dropped, not run.
                input.extend(b"\x1b[?1;2cecho typed-ahead-ran\n");
            }
            input.extend(second_stage(&ctx, code, nonce, false, None, staging));
        }
        let command = format!("stty -echo -icanon -isig -iexten -ixon -icrnl; {BOOTSTRAP}");
        let Some(out) = run_shell(&["script", "-qfec", &command, "/dev/null"], &input) else {
            return eprintln!("no `script` here: skipped");
        };
        let out = String::from_utf8_lossy(&out);
        // The first cell turned output processing off; the next has it back.
        assert!(out.contains("aaaa0000aaaa0000;ctx;\n\t"), "{out:?}");
        let line_two = out.split("two 1 /tmp ").nth(1).expect("cell two printed");
        assert!(
            line_two
                .split_once('\n')
                .is_some_and(|(l, _)| l.ends_with('\r')),
            "{out:?}"
        );
        // The second turned it off again, and the third, not asked to, keeps that.
        let line_three = out.split("three 2 ").nth(1).expect("cell three printed");
        assert!(
            line_three
                .split_once('\n')
                .is_some_and(|(l, _)| !l.ends_with('\r')),
            "{out:?}"
        );
        let out = out.replace("\r\n", "\n");
        let mut rest = out.as_bytes();
        let mut texts = Vec::new();
        for (i, nonce) in nonces.iter().enumerate() {
            let start = crate::demux::start_marker(nonce);
            let at = rest
                .windows(start.len())
                .position(|w| w == start)
                .unwrap_or_else(|| panic!("cell {i} started: {out:?}"));
            let mut d = Demux::new(nonce);
            let mut ev = Vec::new();
            d.feed(&rest[at..], &mut ev);
            d.finish(&mut ev);
            let text: Vec<u8> = ev
                .iter()
                .filter_map(|e| match e {
                    Event::Output(o) => Some(o.clone()),
                    _ => None,
                })
                .flatten()
                .collect();
            let text = String::from_utf8_lossy(&text).into_owned();
            assert!(
                ev.iter().any(|e| matches!(e, Event::Capture(_))),
                "cell {i} captured"
            );
            // The first two stay; the third left a job in the background and exits.
            assert_eq!(
                ev.contains(&Event::Stayed { right_after: true }),
                i < 2,
                "cell {i}: {out:?}"
            );
            texts.push(text.lines().next().unwrap_or_default().to_owned());
            rest = &rest[at + start.len()..];
        }
        assert_eq!(texts[0], "one");
        // (Its echo is there: `script`'s terminal echoed the input before `stty` ran.)
        assert!(!out.lines().any(|l| l == "typed-ahead-ran"), "{out:?}");
        let two: Vec<&str> = texts[1].split(' ').collect();
        let three: Vec<&str> = texts[2].split(' ').collect();
        assert_eq!(&two[..3], ["two", "1", "/tmp"], "{texts:?}");
        // The capture's own `set -f` does not last into the next cell.
        assert!(!out.lines().any(|l| l == "noglob-on"), "{out:?}");
        assert_eq!(&three[..2], ["three", "2"], "{texts:?}");
        // The same shell ran both.
        assert_eq!(two[3], three[2], "{texts:?}");
    }

    /// Nor does a shell stay whose input and output are not a terminal (here: pipes; in a
    /// cell, `exec >file`): the kernel could not see it stay, and waits for its exit.
    #[test]
    fn a_shell_off_the_terminal_does_not_stay() {
        let ctx = Context::default();
        let mut input = prepare_payload(
            &ctx,
            &restore_state(&ctx),
            &restore_definitions(&ctx),
            "dddd3333dddd3333",
        );
        let staging = Staging {
            reused: false,
            stay: true,
            reset_terminal: false,
            definitions_kept: true,
        };
        input.extend(second_stage(
            &ctx,
            "echo x",
            "dddd3333dddd3333",
            false,
            None,
            staging,
        ));
        let out = run_bash(&input);
        let mut d = Demux::new("dddd3333dddd3333");
        let mut ev = Vec::new();
        d.feed(&out, &mut ev);
        assert!(ev.iter().any(|e| matches!(e, Event::Capture(_))));
        assert!(!ev.iter().any(|e| matches!(e, Event::Stayed { .. })));
    }

    #[test]
    fn state_round_trips_through_bash() {
        let mut ctx = Context::default();
        let (out, cap) = cell(
            &ctx,
            "cd /tmp; x=$'a\\nb: \"c\" \\'d\\' \\xff'; export E=1; declare -A m=([k]=v); f() { echo \"f:$1\"; }; alias ll='echo LL'; shopt -s extglob; set -o noclobber; umask 027; echo out",
        );
        assert_eq!(out, b"out\n");
        ctx.apply(cap.expect("captured"), false);
        assert_eq!(ctx.cwd, b"/tmp");
        let (out, cap) = cell(
            &ctx,
            "printf '%s|' \"$x\" \"$E\" \"${m[k]}\" \"$(f 1)\" \"$PWD\" \"$(umask)\"; shopt -q extglob && echo extglob; [[ -o noclobber ]] && echo noclobber\nll",
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(
                b"a\nb: \"c\" 'd' \xff|1|v|f:1|/tmp|0027|extglob\nnoclobber\nLL\n"
            )
        );
        assert_eq!(cap.expect("captured").status, 0);
    }

    #[test]
    fn functions_come_back_whole_or_are_flagged() {
        let ctx = Context::default();
        let (_, cap) = cell(
            &ctx,
            "f() { cat <<EOF\nline\nEOF\n}\nexport -f f\ng() { printf '%s\\n' \"a\nb\"; }\ncd /tmp",
        );
        let cap = cap.expect("captured");
        assert!(!cap.functions_unreadable);
        assert_eq!(
            String::from_utf8_lossy(&cap.functions["f"]),
            "f () \n{ \n    cat <<EOF\nline\nEOF\n\n}\ndeclare -fx f"
        );
        assert!(cap.functions["g"].ends_with(b"\"a\nb\"\n}"));
        // A here-document holding another function's first line: told, not misread.
        let (_, cap) = cell(&ctx, "f() { cat <<EOF\ng () \nEOF\n}\ng() { :; }\ncd /tmp");
        let cap = cap.expect("captured");
        assert!(cap.functions_unreadable);
        assert_eq!(cap.cwd, b"/tmp");
    }

    #[test]
    fn exit_keeps_no_capture_and_status_is_reported() {
        let ctx = Context::default();
        let (_, cap) = cell(&ctx, "exit 3");
        assert!(cap.is_none());
        let (_, cap) = cell(&ctx, "false");
        assert_eq!(cap.expect("captured").status, 1);
    }

    #[test]
    fn deleted_directory_falls_back_to_parent() {
        let dir = std::env::temp_dir().join(format!("sshpty-gone-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let ctx = Context {
            cwd: dir.join("sub").into_os_string().into_encoded_bytes(),
            ..Default::default()
        };
        std::fs::remove_dir_all(&dir).unwrap();
        let (_, cap) = cell(&ctx, "true");
        let parent = dir
            .parent()
            .unwrap()
            .as_os_str()
            .as_encoded_bytes()
            .to_vec();
        assert_eq!(cap.expect("captured").cwd, parent);
    }

    #[test]
    fn login_payload_captures_an_environment() {
        let nonce = "feedfeedfeedfeedfeedfeedfeedfeed";
        let out = run_bash(&login_payload(nonce));
        let mut d = Demux::new(nonce);
        let mut ev = Vec::new();
        d.feed(&out, &mut ev);
        let cap = ev
            .into_iter()
            .find_map(|e| match e {
                Event::Capture(c) => Some(capture::parse(&c).expect("parses")),
                _ => None,
            })
            .expect("a capture");
        assert!(cap.function_files.is_empty(), "{:?}", cap.function_files);
        let (ctx, _) = Context::from_login(cap);
        assert!(ctx.vars.contains_key("PAGER"));
        assert!(ctx.login_exported.contains("PAGER"));
        assert!(!ctx.vars.contains_key("BASHPID"));
    }

    /// The login capture says where each function of the profile was defined (not the
    /// runner's own), and those of bash-completion's files are not carried.
    #[test]
    fn login_payload_says_where_functions_come_from() {
        let nonce = "beefbeefbeefbeefbeefbeefbeefbeef";
        let dir = std::env::temp_dir().join(format!("sshpty-login-fns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mine = dir.join("profile");
        std::fs::write(&mine, "mine() { echo mine; }\n").unwrap();
        // Named as bash-completion's own file would be, wherever it lives.
        let completion = dir.join("usr/share/bash-completion/bash_completion");
        std::fs::create_dir_all(completion.parent().unwrap()).unwrap();
        std::fs::write(&completion, "_comp() { :; }\n").unwrap();
        let mut payload =
            format!(". '{}'; . '{}'\n", mine.display(), completion.display()).into_bytes();
        payload.extend(login_payload(nonce));
        let out = run_bash(&payload);
        std::fs::remove_dir_all(&dir).unwrap();
        let (_, cap) = events(nonce, &out);
        let cap = cap.expect("a capture");
        let files: Vec<(&str, String)> = cap
            .function_files
            .iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files[0].0 == "_comp" && files[0].1.ends_with("bash-completion/bash_completion"));
        assert!(
            files[1].0 == "mine" && files[1].1.ends_with("/profile"),
            "{files:?}"
        );
        let (ctx, applied) = Context::from_login(cap);
        assert_eq!(ctx.functions.keys().collect::<Vec<_>>(), ["mine"]);
        assert_eq!(applied.dropped_functions, 1);
    }
}

/// The sh payloads run in real POSIX shells (busybox sh and the system's /bin/sh, dash on
/// Debian; each skipped with a note when missing) and what they print parses back.
#[cfg(test)]
mod sh_tests {
    use super::bash_tests::{events, run_shell as run_sh};
    use super::*;
    use crate::capture;

    const SHELLS: &[&[&str]] = &[&["busybox", "sh", "-s"], &["/bin/sh", "-s"]];

    fn cell(
        argv: &[&str],
        ctx: &Context,
        code: &str,
    ) -> Option<(Vec<u8>, Option<capture::Captured>)> {
        let nonce = "0123456789abcdef0123456789abcdef";
        let out = run_sh(argv, &cell_payload(ctx, code, nonce, false, Some("m4rker")))?;
        Some(events(nonce, &out))
    }

    #[test]
    fn cwd_and_exports_round_trip_through_posix_shells() {
        for argv in SHELLS {
            let nonce = "feedfeedfeedfeedfeedfeedfeedfeed";
            let Some(out) = run_sh(argv, &sh_login_payload(nonce)) else {
                eprintln!("{argv:?} not installed: skipped");
                continue;
            };
            let (_, cap) = events(nonce, &out);
            let (mut ctx, _) = Context::from_login(cap.expect("a login capture"));
            ctx.dialect = Dialect::Sh;
            assert!(ctx.login_exported.contains("PAGER"), "{argv:?}");
            let (out, cap) = cell(
                argv,
                &ctx,
                "cd /tmp; export E=\"it's \\$x \\\"q\\\"\"; export M='a\nb'; LOCAL=1; unset PAGER; echo out",
            )
            .unwrap();
            assert_eq!(out, b"out\n", "{argv:?}");
            let cap = cap.expect("captured");
            assert_eq!(cap.status, 0);
            ctx.apply(cap, false);
            assert_eq!(ctx.cwd, b"/tmp", "{argv:?}");
            let (out, cap) = cell(
                argv,
                &ctx,
                "printf '%s|' \"$PWD\" \"$E\" \"$M\" \"${LOCAL-unset}\" \"${PAGER-unset}\"; sh -c 'printf \"%s\" \"$E\"'",
            )
            .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out),
                "/tmp|it's $x \"q\"|a\nb|unset|unset|it's $x \"q\"",
                "{argv:?}"
            );
            assert_eq!(cap.expect("captured").status, 0);
            let (_, cap) = cell(argv, &ctx, "false").unwrap();
            assert_eq!(cap.expect("captured").status, 1, "{argv:?}");
            let (_, cap) = cell(argv, &ctx, "exit 3").unwrap();
            assert!(cap.is_none(), "{argv:?}");
        }
    }

    #[test]
    fn strict_is_errexit_in_sh() {
        for argv in SHELLS {
            let ctx = Context {
                dialect: Dialect::Sh,
                ..Default::default()
            };
            let nonce = "0123456789abcdef0123456789abcdef";
            let Some(out) = run_sh(
                argv,
                &cell_payload(&ctx, "false; echo no", nonce, true, None),
            ) else {
                continue;
            };
            let (text, cap) = events(nonce, &out);
            assert!(cap.is_none() && text.is_empty(), "{argv:?}: {text:?}");
        }
    }

    #[test]
    fn bootstraps_follow_the_dialect() {
        let mut ctx = Context::default();
        assert_eq!(bootstrap(&ctx), BOOTSTRAP);
        ctx.dialect = Dialect::Sh;
        assert_eq!(bootstrap(&ctx), SH_BOOTSTRAP);
        assert!(!SH_BOOTSTRAP.contains("bash"));
        let p = String::from_utf8_lossy(&cell_payload(&ctx, "echo hi", "n0nce", false, None))
            .into_owned();
        assert!(
            !p.contains("declare") && !p.contains("shopt") && !p.contains("$'"),
            "{p}"
        );
    }
}
