//! `%shell`: an interactive shell in the cell, in a live terminal, until `exit` or Ctrl-D.
//!
//! It is the cell's own shell reading commands (not a child `bash -i`), so what the user does
//! there is the cell's context, captured at the end as for any cell: `cd`, variables,
//! functions, aliases and options carry to the next cells, also after `exit` (which ends the
//! reading; it does not end the shell before its capture). History is kept in memory for
//! the session's arrow keys only: the shell is not interactive, so nothing is written to
//! `~/.bash_history` (and `HISTFILE` is unset while it runs). Ctrl-C at the prompt drops
//! the line and shows a new prompt (while readline reads, Ctrl-C is not the terminal's
//! interrupt character but a readline key: `read -e` would otherwise take the signal and go
//! on editing a line readline no longer shows); Ctrl-C while a command runs stops the
//! command (its process group gets the signal), not the shell. A command spread over lines (`for …; do` Enter) is read on, with
//! `PS2`, until it is whole.

use super::magic::{Magic, Spec};

pub(super) const SHELL: Spec = Spec {
    name: "shell",
    usage: "%shell",
    description: "an interactive shell in the cell, in a live terminal, until exit or Ctrl-D; its cd, variables and functions carry on",
    parse: |a| {
        if !a.args.is_empty() {
            // MetaKernel's `%shell COMMAND` (the original SSH Kernel had it).
            return Err(a.usage(format!(
                "takes no arguments (got {:?}); MetaKernel's `%shell COMMAND` is `!COMMAND` here",
                a.args
            )));
        }
        Ok(Magic::Shell)
    },
};

/// The shell text a `%shell` cell runs. Every name it uses starts with `__sshpty_sh_` and
/// is unset at the end; the options and the INT trap it changes are set back (`errexit` is
/// off while it reads: under `%strict on` a failing command must not end the session).
/// Its status is the last command's, or the one `exit N` gave.
pub(crate) const REPL: &str = r#"__sshpty_sh_trap=$(trap -p INT)
__sshpty_sh_hist=$([[ -o history ]] && echo on)
__sshpty_sh_histfile=${HISTFILE-__sshpty_sh_unset}
__sshpty_sh_ps1=${PS1:-'\u@\h:\w\$ '}
__sshpty_sh_e=$([[ $- == *e* ]] && echo on)
set +e
unset HISTFILE
set -o history
trap 'printf "\n"' INT
bind -x '"\C-c": printf "^C\n"; READLINE_LINE=; READLINE_POINT=0' 2>/dev/null
__sshpty_sh_status=0
while :; do
  __sshpty_sh_line=
  __sshpty_sh_prompt=${__sshpty_sh_ps1@P}
  while :; do
    __sshpty_sh_tty=$(stty -g 2>/dev/null)
    stty intr undef 2>/dev/null
    IFS= read -e -r -p "$__sshpty_sh_prompt" __sshpty_sh_more
    __sshpty_sh_rc=$?
    [[ -z $__sshpty_sh_tty ]] || stty "$__sshpty_sh_tty" 2>/dev/null
    if (( __sshpty_sh_rc > 128 )); then __sshpty_sh_line=; break; fi
    if (( __sshpty_sh_rc != 0 )); then printf 'exit\n'; break 2; fi
    __sshpty_sh_line+=${__sshpty_sh_line:+$'\n'}$__sshpty_sh_more
    __sshpty_sh_err=$(bash -n -c "$__sshpty_sh_line" 2>&1) && break
    [[ $__sshpty_sh_err == *'unexpected end of file'* ]] || break
    __sshpty_sh_prompt=${PS2:-'> '}
  done
  [[ -n ${__sshpty_sh_line//[[:space:]]/} ]] || continue
  history -s -- "$__sshpty_sh_line"
  if [[ $__sshpty_sh_line =~ ^[[:space:]]*(exit|logout)([[:space:]]+([0-9]+))?[[:space:]]*$ ]]; then
    __sshpty_sh_status=${BASH_REMATCH[3]:-$__sshpty_sh_status}
    break
  fi
  eval "$__sshpty_sh_line"
  __sshpty_sh_status=$?
done
if [[ $__sshpty_sh_histfile != __sshpty_sh_unset ]]; then HISTFILE=$__sshpty_sh_histfile; fi
[[ $__sshpty_sh_hist == on ]] || set +o history
eval "${__sshpty_sh_trap:-trap - INT}"
[[ $__sshpty_sh_e != on ]] || set -e
bind -r '\C-c' 2>/dev/null
unset __sshpty_sh_trap __sshpty_sh_hist __sshpty_sh_histfile __sshpty_sh_ps1 __sshpty_sh_line \
  __sshpty_sh_prompt __sshpty_sh_more __sshpty_sh_err __sshpty_sh_rc __sshpty_sh_e __sshpty_sh_tty
eval "unset __sshpty_sh_status; ( exit $__sshpty_sh_status )"
"#;
