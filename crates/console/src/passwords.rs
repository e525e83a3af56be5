//! Password checks (Argon2id, 19 MiB each) on [`PASSWORD_CHECKS_MAX`] threads of their own,
//! started once. On the runtime's blocking pool each check could land on a new thread, and
//! the C allocator keeps each thread's 19 MiB for reuse: a flood of logins from many
//! addresses grew the daemon by some 800 MiB. On fixed threads the memory stays at about
//! `PASSWORD_CHECKS_MAX` × 19 MiB, whatever the logins.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

use parley_store::console::OperatorRow;

use crate::limits::PASSWORD_CHECKS_MAX;

/// One check, where its answer goes, and its place among the checks at once (released when
/// the check ends, even if the login that asked went away meanwhile).
type Check = (
    Option<OperatorRow>,
    String,
    tokio::sync::oneshot::Sender<bool>,
    tokio::sync::OwnedSemaphorePermit,
);

/// The password checking threads.
pub(crate) struct PasswordChecks {
    checks: SyncSender<Check>,
}

impl PasswordChecks {
    /// Starts the threads. Each check holds one of `PASSWORD_CHECKS_MAX` places (the state's
    /// semaphore) until it ends, so the queue never holds more than that.
    pub(crate) fn start() -> std::io::Result<Self> {
        let (checks, queue) = mpsc::sync_channel::<Check>(PASSWORD_CHECKS_MAX);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..PASSWORD_CHECKS_MAX {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("parley-password-{n}"))
                .spawn(move || work(&queue))?;
        }
        Ok(Self { checks })
    }

    /// Whether `password` is `account`'s (`None`: no such account, checked all the same);
    /// `None` if no thread answers.
    pub(crate) async fn verify(
        &self,
        (account, password): (Option<OperatorRow>, String),
        place: tokio::sync::OwnedSemaphorePermit,
    ) -> Option<bool> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.checks
            .try_send((account, password, answer, place))
            .ok()?;
        answered.await.ok()
    }
}

/// A thread's life: one check after another until the console stops.
fn work(queue: &Mutex<Receiver<Check>>) {
    // The hash that unknown names are checked against, and this thread's working memory,
    // made now rather than at the first login (which they would slow).
    let _ = parley_station::accounts::verify_account(None, "");
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((account, password, answer, place)) = next else {
            return;
        };
        let valid = parley_station::accounts::verify_account(account.as_ref(), &password);
        drop(place);
        let _ = answer.send(valid);
    }
}
