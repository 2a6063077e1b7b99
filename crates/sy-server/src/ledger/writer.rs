//! Getting usage records into the store without slowing requests down: a queue drained by one
//! task that writes batches, retries a failed write until the store is back (records are never
//! dropped), and flushes on demand (shutdown, tests).
//!
//! The crash window of the default batched mode: records queued but not yet written (normally
//! well under a second's worth) are lost if the process dies without a shutdown.
//! `ledger.durability = "sync"` closes it at the cost of a store write per request.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sy_config::Durability;
use sy_store::{Store, StoreError, UsageRecord};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

/// Records per write. Large, because a PostgreSQL write costs about one round trip per batch
/// (and, with sqlx 0.9.0's missing TCP_NODELAY, one delayed-ACK stall of ~40 ms per large write).
const BATCH: usize = 2000;
/// How long the writer gathers a batch after its first record.
const GATHER: Duration = Duration::from_millis(100);
/// Longest pause between retries of a failed write.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[expect(
    clippy::large_enum_variant,
    reason = "records are nearly every message: boxing would add an allocation per request"
)]
enum Message {
    Record(UsageRecord),
    Flush(oneshot::Sender<()>),
}

/// The ledger's handle, cheap to clone.
#[derive(Debug, Clone)]
pub struct Ledger {
    queue: mpsc::UnboundedSender<Message>,
    store: Store,
    durability: Durability,
    failing: Arc<AtomicBool>,
    /// Deployments already warned about for having no price.
    unpriced: Arc<Mutex<HashSet<(String, String)>>>,
}

impl Ledger {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store, durability: Durability) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let failing = Arc::new(AtomicBool::new(false));
        tokio::spawn(write_batches(store.clone(), rx, failing.clone()));
        Self {
            queue,
            store,
            durability,
            failing,
            unpriced: Arc::default(),
        }
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Queues a record for the next batch. The queue is unbounded on purpose: a record is money,
    /// and its size is bounded by the requests in flight times the store's outage.
    pub fn submit(&self, record: UsageRecord) {
        if let Err(e) = self.queue.send(Message::Record(record)) {
            // Only after the writer task has gone (runtime shutting down): say so, loudly.
            if let Message::Record(r) = e.0 {
                warn!(request_id = %r.request_id, "ledger writer stopped; usage record not written");
            }
        }
    }

    /// Writes a record now (durability "sync"); if the store fails, it is queued for retry.
    pub async fn write_now(&self, record: UsageRecord) {
        if let Err(e) = self.store.record_usage(std::slice::from_ref(&record)).await {
            warn!(error = %e, "usage record not written synchronously; queued for retry");
            self.submit(record);
        }
    }

    /// Waits until every record submitted before this call is in the store.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Warns, once per provider and model, that usage is recorded with a null cost.
    pub fn warn_unpriced(&self, record: &UsageRecord) {
        let (Some(provider), Some(model)) = (&record.provider, &record.served_model) else {
            return;
        };
        let first = self
            .unpriced
            .lock()
            .map(|mut seen| seen.insert((provider.clone(), model.clone())))
            .unwrap_or(false);
        if first {
            warn!(%provider, %model, "no price known: usage is recorded with a null cost; add a [[prices]] entry");
        }
    }

    /// Whether the last write failed (reported by `/readyz`).
    pub fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

async fn write_batches(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<Message>,
    failing: Arc<AtomicBool>,
) {
    let mut batch: Vec<UsageRecord> = Vec::with_capacity(BATCH);
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        take(first, &mut batch, &mut flushes);
        // Gather more for a moment, unless someone waits for a flush.
        let deadline = tokio::time::Instant::now() + GATHER;
        while batch.len() < BATCH && flushes.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(message)) => take(message, &mut batch, &mut flushes),
                Ok(None) | Err(_) => break,
            }
        }
        // Whatever is already queued joins this write.
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(message) => take(message, &mut batch, &mut flushes),
                Err(_) => break,
            }
        }
        write(&store, &mut batch, &failing).await;
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

fn take(message: Message, batch: &mut Vec<UsageRecord>, flushes: &mut Vec<oneshot::Sender<()>>) {
    match message {
        Message::Record(record) => batch.push(record),
        Message::Flush(done) => flushes.push(done),
    }
}

/// Writes the batch, retrying with backoff until the store takes it.
async fn write(store: &Store, batch: &mut Vec<UsageRecord>, failing: &AtomicBool) {
    if batch.is_empty() {
        return;
    }
    let mut pause = Duration::from_millis(100);
    loop {
        match store.record_usage(batch).await {
            Ok(_) => {
                if failing.swap(false, Ordering::Relaxed) {
                    info!("usage ledger writes succeed again");
                }
                batch.clear();
                return;
            }
            Err(StoreError::Invalid(reason)) => {
                // A record the store cannot take would block every record behind it: write the
                // rest one by one and report the one that is refused.
                for record in batch.drain(..) {
                    if let Err(e) = store.record_usage(std::slice::from_ref(&record)).await {
                        error!(request_id = %record.request_id, error = %e, %reason, "usage record refused by the store");
                    }
                }
                return;
            }
            Err(e) => {
                if !failing.swap(true, Ordering::Relaxed) {
                    warn!(error = %e, records = batch.len(), "usage records not written yet; retrying until the store takes them");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
            }
        }
    }
}
