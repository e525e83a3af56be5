//! Password checks (Argon2id, 19 MiB each) on [`PASSWORD_CHECKS_MAX`] threads of their own,
//! started once. On the runtime's blocking pool each check could land on a new thread, and
//! the C allocator keeps each thread's 19 MiB for reuse: a flood of logins from many
//! addresses grew the daemon by some 800 MiB. On fixed threads the memory stays at about
//! `PASSWORD_CHECKS_MAX` × 19 MiB, whatever the logins.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

use parley_store::console::OperatorRow;

use crate::limits::PASSWORD_CHECKS_MAX;

/// One check, and where its answer goes.
type Check = (
    Option<OperatorRow>,
    String,
    tokio::sync::oneshot::Sender<bool>,
);

/// The password checking threads.
pub(crate) struct PasswordChecks {
    checks: SyncSender<Check>,
}

impl PasswordChecks {
    /// Starts the threads. Callers take one of `PASSWORD_CHECKS_MAX` places first (the
    /// state's semaphore), so the queue never holds more than that.
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
        account: Option<OperatorRow>,
        password: String,
    ) -> Option<bool> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.checks.try_send((account, password, answer)).ok()?;
        answered.await.ok()
    }
}

/// A thread's life: one check after another until the console stops.
fn work(queue: &Mutex<Receiver<Check>>) {
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((account, password, answer)) = next else {
            return;
        };
        let valid = parley_station::accounts::verify_account(account.as_ref(), &password);
        let _ = answer.send(valid);
    }
}
