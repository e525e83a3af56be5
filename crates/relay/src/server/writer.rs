//! The store's writer: one thread that commits the writing requests (ping, deposit, fetch,
//! delete) in groups. It takes every request waiting, up to [`GROUP_REQUESTS_MAX`], runs each
//! in its own savepoint of one transaction ([`Store::begin_group`]), commits once, and only
//! then answers each with its own outcome. So requests share an fsync instead of queueing for
//! one each, and one request's failure rolls back only itself; a failed commit fails them all
//! (none happened). One thread owns the writing, so the blocking pool no longer has a thread
//! per request waiting for the store's lock.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};
use tracing::error;

use super::refusal::Refusal;
use crate::limits::{GROUP_REQUESTS_MAX, WRITE_QUEUE_MAX};
use crate::store::{Store, StoreError};

/// What a request's operation leaves to do once its group's commit is known: answer the
/// request, with its outcome if the commit succeeded, with the commit's error if not.
type Answer = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// A request's operation, run in its group's transaction.
type Job = Box<dyn FnOnce(&mut Store) -> Answer + Send>;

/// The handle requests queue their writes on.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread over `store`; it ends when the handle is dropped.
    pub(super) fn start(store: Arc<Mutex<Store>>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel(WRITE_QUEUE_MAX);
        std::thread::Builder::new()
            .name("relay-writer".into())
            .spawn(move || run(&store, queue))?;
        Ok(Self { jobs })
    }

    /// Runs `operation` in the next group and returns its outcome once the group committed.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Refusal> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let outcome = operation(store);
            Box::new(move |committed: Result<(), &StoreError>| {
                let outcome = match committed {
                    Ok(()) => outcome.map_err(Refusal::from),
                    Err(error) => Err(Refusal::internal(format!(
                        "the relay's store could not commit: {error}"
                    ))),
                };
                let _ = answer.send(outcome);
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| Refusal::internal("the relay's store writer has stopped"))?;
        answered.await.map_err(|_| {
            Refusal::internal("the relay's store writer dropped the request (see its log)")
        })?
    }
}

/// The writer thread: a group per wake-up, until every handle is dropped.
fn run(store: &Mutex<Store>, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(GROUP_REQUESTS_MAX);
    while let Some(first) = queue.blocking_recv() {
        jobs.push(first);
        while jobs.len() < GROUP_REQUESTS_MAX {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // A panic cannot leave the connection mid-transaction (each savepoint rolls back when
        // dropped, the group when its commit fails), so a poisoned lock is safe to take.
        let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = store.begin_group() {
            error!(%error, requests = jobs.len(), "a group transaction could not start");
            jobs.clear(); // their answers are dropped: each request fails as internal
            continue;
        }
        let answers: Vec<Answer> = jobs
            .drain(..)
            .filter_map(|job| {
                // A request whose operation panicked is dropped (and answered as failed);
                // the others of its group go on.
                catch_unwind(AssertUnwindSafe(|| job(&mut store))).ok()
            })
            .collect();
        let committed = store.commit_group();
        drop(store);
        if let Err(error) = &committed {
            error!(%error, requests = answers.len(), "a group transaction could not commit");
        }
        for answer in answers {
            answer(committed.as_ref().map(|_| ()));
        }
    }
}
