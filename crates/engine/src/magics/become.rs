//! `%become [USER]` and `%unbecome`: the following cells run as USER through sudo (what
//! `sudo -i` is for in a terminal), the context carried.

use super::args::is_user_name;
use super::magic::{Magic, Spec};
use crate::failure::{Failure, Outcome};
use crate::output::StreamOut;
use crate::session::Engine;
use crate::sink::Sink;

pub(super) const BECOME: Spec = Spec {
    name: "become",
    usage: "%become [USER]",
    description: "run the following cells as USER (default root) through sudo",
    parse: |a| {
        // None is root, as with sudo.
        let user = a.optional_word()?.unwrap_or_else(|| "root".into());
        if !is_user_name(&user) {
            return Err(a.usage(format!("needs a user name, not {user:?}")));
        }
        Ok(Magic::Become(user))
    },
};

pub(super) const UNBECOME: Spec = Spec {
    name: "unbecome",
    usage: "%unbecome",
    description: "run cells as the login user again",
    parse: |a| a.none().map(|()| Magic::Unbecome),
};

impl Engine {
    pub(super) fn become_user(&self, user: String, out: &mut StreamOut<'_>) -> Outcome {
        let mut st = self.state();
        let Some(h) = st.hosts.current_mut() else {
            return Err(Failure::NoTarget);
        };
        h.become_user = Some(user.clone());
        out.text(&format!(
            "the next cells run as {user} through sudo (asked for, or remembered, as sudo's password is), with the context carried; %unbecome ends it\n"
        ));
        Ok(())
    }

    pub(super) fn unbecome(&self, out: &mut StreamOut<'_>) -> Outcome {
        let mut st = self.state();
        let Some(h) = st.hosts.current_mut() else {
            return Err(Failure::NoTarget);
        };
        let was = h.become_user.take();
        let me = h.target.info().user;
        out.text(&match was {
            Some(u) => format!("cells run as {me} again (no longer as {u})\n"),
            None => format!("cells already run as {me}\n"),
        });
        Ok(())
    }
}
