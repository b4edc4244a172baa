//! The one sudo password box of a fleet cell. The first host whose own sudo prompt needs a
//! password opens it; hosts that ask while it is open wait for the same answer, and later
//! ones get it at once. Only the cell's marked sudo prompts reach it (`cell::Answers::
//! only_sudo`), and a host that refuses the answer is never given it again.

use std::sync::Arc;

use tokio::sync::{OnceCell, watch};
use zeroize::Zeroizing;

use crate::frontend::{Asker, BoxFuture};

pub struct FleetPassword {
    asker: Arc<dyn Asker>,
    prompt: String,
    /// None: the question could not be asked, or an interrupt came while it was open.
    answer: OnceCell<Option<Zeroizing<String>>>,
    interrupt: watch::Receiver<u64>,
}

impl FleetPassword {
    /// Asks `asker` with `prompt`; `interrupt` (its current value seen) ends the wait.
    pub fn new(asker: Arc<dyn Asker>, prompt: String, interrupt: watch::Receiver<u64>) -> Self {
        FleetPassword {
            asker,
            prompt,
            answer: OnceCell::new(),
            interrupt,
        }
    }
}

/// Shared by the cell's host runs.
pub struct Shared(pub Arc<FleetPassword>);

impl Asker for Shared {
    fn ask(&self, _prompt: &str, _password: bool) -> BoxFuture<Option<String>> {
        let p = self.0.clone();
        Box::pin(async move {
            let answer = p
                .answer
                .get_or_init(|| async {
                    let mut interrupt = p.interrupt.clone();
                    tokio::select! {
                        a = p.asker.ask(&p.prompt, true) => a.map(Zeroizing::new),
                        _ = interrupt.changed() => None,
                    }
                })
                .await;
            answer.as_ref().map(|a| a.as_str().to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Counting(Mutex<Vec<String>>);

    impl Asker for Counting {
        fn ask(&self, prompt: &str, password: bool) -> BoxFuture<Option<String>> {
            assert!(password);
            self.0.lock().unwrap().push(prompt.to_owned());
            Box::pin(async {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                Some("s3cret".to_owned())
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn many_hosts_asking_at_once_open_one_box() {
        let asked = Arc::new(Counting(Mutex::new(Vec::new())));
        let (_tx, rx) = watch::channel(0);
        let shared = Arc::new(FleetPassword::new(
            asked.clone(),
            "[sudo] password for the fleet:".into(),
            rx,
        ));
        let askers: Vec<Shared> = (0..20).map(|_| Shared(shared.clone())).collect();
        let answers =
            futures_join(askers.iter().map(|a| a.ask("[sudo] password for x:", true))).await;
        assert!(answers.iter().all(|a| a.as_deref() == Some("s3cret")));
        assert_eq!(
            asked.0.lock().unwrap().as_slice(),
            ["[sudo] password for the fleet:"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_ends_the_wait_with_no_answer() {
        struct Never;
        impl Asker for Never {
            fn ask(&self, _: &str, _: bool) -> BoxFuture<Option<String>> {
                Box::pin(std::future::pending())
            }
        }
        let (tx, rx) = watch::channel(0);
        let shared = Shared(Arc::new(FleetPassword::new(
            Arc::new(Never),
            "p".into(),
            rx,
        )));
        let waiting = shared.ask("q", true);
        tx.send_replace(1);
        assert_eq!(waiting.await, None);
    }

    async fn futures_join(
        futs: impl Iterator<Item = BoxFuture<Option<String>>>,
    ) -> Vec<Option<String>> {
        let handles: Vec<_> = futs.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}
