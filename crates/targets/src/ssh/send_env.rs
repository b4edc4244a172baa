//! SendEnv and SetEnv: the variables each session channel asks the server to set, as ssh does
//! (clientloop.c `client_session2_setup`): first the kernel's own variables whose names match
//! a SendEnv pattern, in the environment's order, then the SetEnv pairs. The server's
//! AcceptEnv decides; a refusal is silent, as in ssh.

use std::sync::Mutex;

use super::config::{HostConfig, match_pattern};

/// Names never sent, whatever SendEnv says: the variable `%sudo password-from-env` reads a
/// password from. The kernel's environment is the process's, so this list is too.
static NEVER_SENT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps the variable `name` of the kernel's environment from ever being sent to a server.
pub fn never_send(name: &str) {
    if let Ok(mut names) = NEVER_SENT.lock()
        && !names.iter().any(|n| n == name)
    {
        names.push(name.to_owned());
    }
}

/// What `c` asks to set on a channel, from the kernel's environment `environ`.
pub fn to_send(
    c: &HostConfig,
    environ: impl IntoIterator<Item = (String, String)>,
    never: &[String],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = environ
        .into_iter()
        .filter(|(name, _)| !never.contains(name))
        .filter(|(name, _)| c.send_env.iter().any(|p| match_pattern(name, p)))
        .collect();
    out.extend(c.set_env.iter().cloned());
    out
}

/// `to_send` with this process's environment (variables whose name or value is not UTF-8
/// are not sent: russh takes strings).
pub fn from_process(c: &HostConfig) -> Vec<(String, String)> {
    if c.send_env.is_empty() && c.set_env.is_empty() {
        return Vec::new();
    }
    let never = NEVER_SENT.lock().map(|n| n.clone()).unwrap_or_default();
    let environ = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    to_send(c, environ, &never)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::config::resolve_text as config;

    fn environ() -> Vec<(String, String)> {
        [
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "de_DE.UTF-8"),
            ("LC_TIME", "en_GB.UTF-8"),
            ("SUDO_PW", "hunter2"),
            ("HOME", "/home/me"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn names(sent: &[(String, String)]) -> Vec<&str> {
        sent.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn patterns_in_the_environment_order_then_set_env() {
        let c = config("SendEnv LC_* LANG\nSetEnv TZ=UTC \"GREETING=hello world\"\n");
        let sent = to_send(&c, environ(), &[]);
        assert_eq!(
            names(&sent),
            ["LANG", "LC_ALL", "LC_TIME", "TZ", "GREETING"]
        );
        assert_eq!(sent[0].1, "C.UTF-8");
        assert_eq!(sent[4].1, "hello world");
    }

    #[test]
    fn minus_removes_earlier_patterns() {
        // readconf.c `rm_env`: `-LC_*` removes the patterns it matches, not variables.
        let c = config("SendEnv LANG LC_* LC_TIME\nSendEnv -LC_*\nSendEnv LC_ALL\n");
        assert_eq!(c.send_env, ["LANG", "LC_ALL"]);
        assert_eq!(names(&to_send(&c, environ(), &[])), ["LANG", "LC_ALL"]);
    }

    #[test]
    fn the_sudo_password_variable_is_never_sent() {
        let c = config("SendEnv *\n");
        let sent = to_send(&c, environ(), &["SUDO_PW".to_string()]);
        assert!(!names(&sent).contains(&"SUDO_PW"));
        assert!(names(&sent).contains(&"HOME"));
    }

    #[test]
    fn unset_variables_are_not_sent_and_set_env_first_line_wins() {
        let c = config("SendEnv NOT_SET_ANYWHERE\nSetEnv A=1 A=2 B=3\nSetEnv C=4\n");
        assert_eq!(
            to_send(&c, environ(), &[]),
            [("A".into(), "1".into()), ("B".into(), "3".into())]
        );
    }
}
