//! Sending on the kernel's channels: IOPub broadcasts, replies on shell/control, and
//! questions on stdin.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use jupyter_protocol::{Header, InputRequest, JupyterMessageContent, Status};
use tokio::sync::oneshot;

use crate::wire::{Request, Session};
use crate::zmtp::{Publisher, RouterSender};

#[derive(Clone)]
pub struct Iopub {
    publisher: Publisher,
    session: Session,
    /// One pacer for all of the kernel's output (see `pacing`).
    pacer: Arc<Mutex<crate::pacing::Pacer>>,
}

impl Iopub {
    pub fn new(publisher: Publisher, session: Session) -> Iopub {
        Iopub {
            publisher,
            session,
            pacer: Arc::default(),
        }
    }

    pub fn pacer(&self) -> std::sync::MutexGuard<'_, crate::pacing::Pacer> {
        self.pacer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn send(&self, content: JupyterMessageContent, parent: Option<&Header>) {
        self.send_with_metadata(content, parent, serde_json::json!({}));
    }

    pub fn send_with_metadata(
        &self,
        content: JupyterMessageContent,
        parent: Option<&Header>,
        metadata: serde_json::Value,
    ) {
        // busy/idle go even to a subscriber whose queue is full of output (from the
        // reserve): a client that lost some output can still tell the cell ended, one
        // that lost the idle would wait for it forever.
        let status = matches!(content, JupyterMessageContent::Status(_));
        // The topic frame: clients subscribe to everything, so any prefix works; use
        // ipykernel's `kernel.<id>.<type>` shape.
        let topic = Bytes::from(format!(
            "kernel.{}.{}",
            self.session.id,
            content.message_type()
        ));
        let frames = self.session.encode(vec![topic], &content, parent, metadata);
        if status {
            self.publisher.publish_status(frames);
        } else {
            self.publisher.publish(frames);
        }
    }

    pub fn busy(&self, parent: &Header) {
        self.send(JupyterMessageContent::Status(Status::busy()), Some(parent));
    }

    pub fn idle(&self, parent: &Header) {
        self.send(JupyterMessageContent::Status(Status::idle()), Some(parent));
    }
}

/// Replies on a ROUTER channel (shell or control) to the peer a request came from.
#[derive(Clone)]
pub struct Replier {
    sender: RouterSender,
    session: Session,
}

impl Replier {
    pub fn new(sender: RouterSender, session: Session) -> Replier {
        Replier { sender, session }
    }

    pub fn reply(&self, req: &Request, content: JupyterMessageContent) {
        self.reply_to(&req.identities, &req.message.header, content);
    }

    pub fn reply_to(&self, identities: &[Bytes], parent: &Header, content: JupyterMessageContent) {
        let Some(to) = identities.first() else {
            log::warn!(
                "cannot reply to {}: the request had no routing identity",
                parent.msg_type
            );
            return;
        };
        let frames = self.session.encode(
            identities.to_vec(),
            &content,
            Some(parent),
            serde_json::json!({}),
        );
        // The router prepends the identity itself: pass the frames after it.
        if let Err(e) = self.sender.send(to, frames[1..].to_vec()) {
            // A client that went away is not an error of ours.
            log::info!("reply {} not delivered: {e}", content.message_type());
        }
    }
}

/// Questions to the user through the stdin channel (`input_request`).
#[derive(Clone)]
pub struct Stdin {
    sender: RouterSender,
    session: Session,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<String>>>>,
}

impl Stdin {
    pub fn new(sender: RouterSender, session: Session) -> Stdin {
        Stdin {
            sender,
            session,
            waiting: Arc::default(),
        }
    }

    /// Ask on behalf of the request `req` (its client's stdin socket has the same
    /// identity as its shell socket). Resolves with the answer, or None if the question
    /// could not be sent or the receiver is dropped (interrupt).
    pub async fn ask(&self, req: &Request, prompt: &str, password: bool) -> Option<String> {
        let to = req.identities.first()?;
        let content = JupyterMessageContent::InputRequest(InputRequest {
            prompt: prompt.to_owned(),
            password,
        });
        let (key, frames) = self.session.encode_with_id(
            req.identities.clone(),
            &content,
            Some(&req.message.header),
            serde_json::json!({}),
        );
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(key.clone(), tx);
        }
        // The question is withdrawn however this future ends: answered, or dropped (the
        // cell was interrupted), so a late reply finds nothing to answer.
        let _asked = Asked {
            stdin: self,
            key: &key,
        };
        if self.sender.send(to, frames[1..].to_vec()).is_err() {
            return None;
        }
        rx.await.ok()
    }

    /// An `input_reply` arrived. A reply to a question no longer asked (the cell was
    /// interrupted) is dropped: it must never answer a later prompt.
    /// jupyter_client's `input()` (and so jupyter_console) sends no parent header: such an
    /// answer goes to the question asked, when exactly one is open.
    pub fn answer(&self, parent_msg_id: &str, value: String) {
        let tx = self.waiting.lock().ok().and_then(|mut w| {
            if parent_msg_id.is_empty() && w.len() == 1 {
                let key = w.keys().next().cloned().unwrap_or_default();
                return w.remove(&key);
            }
            w.remove(parent_msg_id)
        });
        match tx {
            Some(tx) => {
                let _ = tx.send(value);
            }
            None => log::info!("dropped an input_reply to a question no longer asked"),
        }
    }
}

/// Withdraws a question from [`Stdin`]'s table when dropped.
struct Asked<'a> {
    stdin: &'a Stdin,
    key: &'a str,
}

impl Drop for Asked<'_> {
    fn drop(&mut self) {
        if let Ok(mut w) = self.stdin.waiting.lock() {
            w.remove(self.key);
        }
    }
}
