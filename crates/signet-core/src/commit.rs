//! Group commit: many issuance writes, one transaction, one fsync.
//!
//! Each request hands its write to the committer and waits. One task drains
//! whatever has queued up while the previous transaction was committing and
//! writes it all in the next one, so the fsync cost is shared by every
//! request in the batch and the batch grows by itself under load. A write is
//! acknowledged only after its transaction committed: durability is never
//! traded for speed.

use crate::error::CoreError;
use crate::ports::{IssuanceWrite, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A write, and where to hand it back with its result.
type Job = (IssuanceWrite, oneshot::Sender<(IssuanceWrite, Result<Option<i64>, StoreError>)>);

#[derive(Debug, Clone)]
pub struct GroupCommitter {
    tx: mpsc::Sender<Job>,
}

impl GroupCommitter {
    /// Start the committer task on the current Tokio runtime. `max_batch`
    /// bounds one transaction; the queue holds `4 × max_batch` waiting writes.
    ///
    /// It runs on the shared runtime on purpose: a committer on a thread of
    /// its own was measured slower under load. Polled at once, it commits
    /// smaller batches, and each commit has a fixed cost (the rewritten
    /// index pages in the WAL, the fsync, the statement round trips) that
    /// larger batches share (docs/BENCHMARKS.md).
    pub fn start(store: Arc<dyn Store>, max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel::<Job>(max_batch * 4);
        tokio::spawn(run(store, rx, max_batch));
        Self { tx }
    }

    /// Write `w` durably; returns once its transaction has committed, with
    /// the log index of its event (`None` for an intent).
    pub async fn write(&self, w: IssuanceWrite) -> Result<Option<i64>, CoreError> {
        self.write_back(w).await.1
    }

    /// [`Self::write`], handing the write back with the result (when the
    /// committer still has it), so that the caller can answer from what it
    /// wrote without having kept a copy.
    pub async fn write_back(&self, w: IssuanceWrite) -> (Option<IssuanceWrite>, Result<Option<i64>, CoreError>) {
        let (done_tx, done_rx) = oneshot::channel();
        if let Err(mpsc::error::SendError((w, _))) = self.tx.send((w, done_tx)).await {
            return (Some(w), Err(CoreError::Internal("the group committer has stopped".into())));
        }
        match done_rx.await {
            Ok((w, result)) => (Some(w), result.map_err(CoreError::from)),
            Err(_) => (None, Err(CoreError::Internal("the group committer dropped a write".into()))),
        }
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let (writes, dones): (Vec<IssuanceWrite>, Vec<_>) = jobs.drain(..).unzip();
        let started = std::time::Instant::now();
        let result = store.apply_issuance_batch(&writes).await;
        tracing::debug!(writes = writes.len(), micros = started.elapsed().as_micros() as u64, "group commit");
        match result {
            Ok(indexes) => {
                for ((done, index), w) in dones.into_iter().zip(indexes).zip(writes) {
                    let _ = done.send((w, Ok(index)));
                }
            }
            Err(e) if writes.len() == 1 => {
                if let (Some(done), Some(w)) = (dones.into_iter().next(), writes.into_iter().next()) {
                    let _ = done.send((w, Err(e)));
                }
            }
            Err(e) => {
                // One bad write must not fail its neighbours: retry each alone.
                tracing::warn!(error = %e, batch = writes.len(), "batch commit failed; retrying writes one by one");
                for (w, done) in writes.into_iter().zip(dones) {
                    let r = store.apply_issuance_batch(std::slice::from_ref(&w)).await;
                    let _ = done.send((w, r.map(|indexes| indexes.into_iter().next().flatten())));
                }
            }
        }
    }
}
