//! Claims runs for this node and executes them: at most `workers` at once, woken when the
//! journal enqueues runs here and polling for runs enqueued elsewhere or coming due. Leases are
//! renewed while runs execute; a node that dies stops renewing, and after the lease another
//! node (or this one restarted) takes its runs over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use crate::Engine;

/// How often the queue is polled when nothing woke the worker.
const POLL: Duration = Duration::from_millis(200);

/// Marks a run as executing on this node while alive (its lease is renewed); dropped when the
/// execution ends — also by a panic, so a crashed execution lets its lease lapse.
struct Executing {
    engine: Arc<Engine>,
    id: String,
}

impl Executing {
    fn start(engine: &Arc<Engine>, id: &str) -> Executing {
        if let Ok(mut e) = engine.executing.lock() {
            e.insert(id.to_string());
        }
        Executing {
            engine: engine.clone(),
            id: id.to_string(),
        }
    }
}

impl Drop for Executing {
    fn drop(&mut self) {
        if let Ok(mut e) = self.engine.executing.lock() {
            e.remove(&self.id);
        }
        if let Ok(mut l) = self.engine.lost.lock() {
            l.remove(&self.id);
        }
    }
}

/// Runs the claim loop and the lease renewal until `shutdown`; then waits (bounded) for the
/// runs in flight to finish or suspend.
pub async fn run(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(engine.opts.workers.max(1)));
    // Set while runs may be waiting for a free slot: then a finishing run wakes the claimer
    // instead of leaving it to the next poll.
    let saturated = Arc::new(AtomicBool::new(false));
    let renew = {
        let engine = engine.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let every = Duration::from_millis((engine.opts.lease_ms / 3).max(100) as u64);
            let mut last_ok = std::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.changed() => return,
                }
                let ids: Vec<String> = engine
                    .executing
                    .lock()
                    .map(|e| e.iter().cloned().collect())
                    .unwrap_or_default();
                // A run whose lease could not be kept may be taken over by another node: stop
                // executing it here at its next step (its end would not be recorded anyway).
                let lost: Vec<String> = match engine
                    .queue
                    .renew(&engine.node, &ids, engine.opts.lease_ms)
                    .await
                {
                    Ok(held) => {
                        last_ok = std::time::Instant::now();
                        ids.into_iter().filter(|id| !held.contains(id)).collect()
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot renew run leases");
                        let lease = Duration::from_millis(engine.opts.lease_ms.max(0) as u64);
                        if last_ok.elapsed() > lease * 2 / 3 {
                            ids
                        } else {
                            Vec::new()
                        }
                    }
                };
                if !lost.is_empty() {
                    tracing::warn!(
                        runs = lost.len(),
                        "lost the lease of runs; stopping them here"
                    );
                    if let Ok(mut l) = engine.lost.lock() {
                        l.extend(lost);
                    }
                }
            }
        })
    };
    loop {
        if *shutdown.borrow() {
            break;
        }
        loop {
            let free = slots.available_permits();
            if free == 0 {
                saturated.store(true, Ordering::Release);
                break;
            }
            // A power of two (64, 32, …, 1): the SQLite store keeps one prepared claim per
            // limit (`claim_sqlite`); what is left is claimed by the next turn of this loop.
            let want = 1i64 << free.min(64).ilog2();
            let claimed = match engine
                .queue
                .claim(&engine.node, want, engine.opts.lease_ms)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim runs");
                    break;
                }
            };
            let got = claimed.len() as i64;
            for one in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let engine = engine.clone();
                let saturated = saturated.clone();
                let executing = Executing::start(&engine, &one.run.id);
                tokio::spawn(async move {
                    engine.execute(one).await;
                    drop(executing);
                    drop(permit);
                    if saturated.load(Ordering::Acquire) {
                        engine.queue.notify_ready();
                    }
                });
            }
            if got < want {
                saturated.store(false, Ordering::Release);
                break;
            }
            saturated.store(true, Ordering::Release);
        }
        tokio::select! {
            _ = engine.queue.ready() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Let the runs in flight reach their next record (at most 30 s); whatever is still running
    // keeps its lease and is resumed after it expires.
    let all = engine.opts.workers.max(1) as u32;
    let _ = tokio::time::timeout(Duration::from_secs(30), slots.acquire_many(all)).await;
    renew.abort();
}
