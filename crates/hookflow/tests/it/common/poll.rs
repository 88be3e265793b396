//! Waiting without sleeping as synchronisation: polling a condition until a deadline, and the
//! wall clock for tests of fixed time windows.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `f` every 50 ms until it returns `Ok`, panicking with its last error after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => {
                panic!("condition not met within {timeout:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// `Ok` when `ok` holds, else the error `why` says: one condition for [`eventually`].
pub fn check(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Waits, if needed, so that at least `margin` seconds remain in the current UTC window of
/// `period` seconds (a fixed-window rate test must not straddle a boundary).
pub async fn avoid_window_edge(period: u64, margin: u64) {
    let now = unix_now();
    let into = now % period as f64;
    let left = period as f64 - into;
    if left < margin as f64 {
        tokio::time::sleep(Duration::from_secs_f64(left + 0.5)).await;
    }
}
