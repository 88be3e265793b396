//! Check 6 (SPEC §2): a webhook's rate limits, counted in fixed UTC windows of a minute and a
//! day. The journal reads the counts of the current windows inside the transaction that records
//! a batch, asks [`Windows::check`] for each request in arrival order, [`Windows::count`]s the
//! ones it accepts and writes the new counts back: the decision is a pure function of the counts, the limits and the clock, which is a
//! value ([`RateClock`]) so a window's start, end and `Retry-After` are tested without waiting.

use super::{Rejection, WebhookAuth};

pub const MINUTE_MS: i64 = 60_000;
pub const DAY_MS: i64 = 86_400_000;

/// The start of the fixed UTC window of `period_ms` containing `now_ms`, and the whole seconds
/// until the next one starts (at least 1).
pub fn window(now_ms: i64, period_ms: i64) -> (i64, u64) {
    let start = now_ms - now_ms.rem_euclid(period_ms);
    let left_ms = start + period_ms - now_ms;
    (start, ((left_ms + 999) / 1000).max(1) as u64)
}

/// An instant and the windows it falls in: their starts (unix ms) and the seconds until each
/// ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateClock {
    pub now: i64,
    pub minute_start: i64,
    pub minute_left: u64,
    pub day_start: i64,
    pub day_left: u64,
}

impl RateClock {
    /// The clock at `now` (unix ms).
    pub fn at(now: i64) -> RateClock {
        let (minute_start, minute_left) = window(now, MINUTE_MS);
        let (day_start, day_left) = window(now, DAY_MS);
        RateClock {
            now,
            minute_start,
            minute_left,
            day_start,
            day_left,
        }
    }

    /// The count a stored window holds now: its count if it is the current window of
    /// `period_ms`, else 0 (a window that has passed counts nothing).
    pub fn current(&self, stored_start: i64, stored_count: i64, period_ms: i64) -> i64 {
        if stored_start == window(self.now, period_ms).0 {
            stored_count
        } else {
            0
        }
    }
}

/// A webhook's requests accepted in the current minute and day windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Windows {
    pub minute: i64,
    pub day: i64,
}

impl Windows {
    /// Check 6 for one more request of `hook` at `clock`: `Ok` when both limits leave room (0 is
    /// no limit), else the 429 of the limit reached first — the minute before the day — with
    /// `Retry-After` until that window ends. Counts nothing: only an accepted request is counted
    /// ([`Windows::count`]), so refused ones never use up the limit.
    pub fn check(&self, hook: &WebhookAuth, clock: &RateClock) -> Result<(), Rejection> {
        let (per_minute, per_day) = (hook.rate_limit_per_minute, hook.rate_limit_per_day);
        if per_minute > 0 && self.minute >= per_minute {
            return Err(Rejection::rate_limited(
                per_minute,
                "minute",
                clock.minute_left,
            ));
        }
        if per_day > 0 && self.day >= per_day {
            return Err(Rejection::rate_limited(per_day, "day", clock.day_left));
        }
        Ok(())
    }

    /// Counts an accepted request in both windows.
    pub fn count(&mut self) {
        self.minute += 1;
        self.day += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the journal does for one request: [`Windows::check`], then [`Windows::count`] when
    /// it passes.
    fn admit(w: &mut Windows, hook: &WebhookAuth, clock: &RateClock) -> Result<(), Rejection> {
        w.check(hook, clock)?;
        w.count();
        Ok(())
    }

    fn hook(per_minute: i64, per_day: i64) -> WebhookAuth {
        WebhookAuth {
            rate_limit_per_minute: per_minute,
            rate_limit_per_day: per_day,
            ..crate::ingest::tests::hook()
        }
    }

    /// 2026-12-07T10:15:30.250Z.
    const T: i64 = 1_796_638_530_250;

    #[test]
    fn windows_start_on_utc_boundaries_and_say_the_seconds_left() {
        assert_eq!(window(61_500, MINUTE_MS), (60_000, 59));
        assert_eq!(window(60_000, MINUTE_MS), (60_000, 60));
        assert_eq!(window(DAY_MS + 1, DAY_MS), (DAY_MS, 86_400));
        assert_eq!(window(DAY_MS - 1, DAY_MS), (0, 1), "at least one second");
        let c = RateClock::at(T);
        assert_eq!(c.minute_start, T - 30_250);
        assert_eq!(c.minute_left, 30);
        assert_eq!(c.day_start, T - (10 * 3600 + 15 * 60 + 30) * 1000 - 250);
        assert_eq!(c.day_left, 86_400 - (10 * 3600 + 15 * 60 + 30));
    }

    /// The answer a case wants: accepted, or the 429's window and `Retry-After`.
    type Want = Result<(), (&'static str, u64)>;

    /// (limits per minute / per day, counts before, answer).
    #[test]
    fn admit_table() {
        let c = RateClock::at(T);
        let cases: &[(i64, i64, Windows, Want)] = &[
            (
                0,
                0,
                Windows {
                    minute: 1_000_000,
                    day: 9_999_999,
                },
                Ok(()),
            ),
            (
                5,
                0,
                Windows {
                    minute: 4,
                    day: 100,
                },
                Ok(()),
            ),
            (
                5,
                0,
                Windows {
                    minute: 5,
                    day: 100,
                },
                Err(("minute", 30)),
            ),
            (0, 10, Windows { minute: 9, day: 9 }, Ok(())),
            (
                0,
                10,
                Windows { minute: 0, day: 10 },
                Err(("day", c.day_left)),
            ),
            // Both reached: the minute is named (it ends first).
            (5, 10, Windows { minute: 5, day: 10 }, Err(("minute", 30))),
            (
                5,
                10,
                Windows { minute: 1, day: 10 },
                Err(("day", c.day_left)),
            ),
        ];
        for (per_minute, per_day, before, want) in cases {
            let mut w = *before;
            let got = admit(&mut w, &hook(*per_minute, *per_day), &c);
            match want {
                Ok(()) => {
                    assert_eq!(got, Ok(()), "{per_minute}/{per_day} {before:?}");
                    assert_eq!(
                        w,
                        Windows {
                            minute: before.minute + 1,
                            day: before.day + 1
                        },
                        "an accepted request counts in both windows"
                    );
                }
                Err((window, retry)) => {
                    let r = got.expect_err("limited");
                    assert_eq!(r.status, 429);
                    assert_eq!(r.retry_after, Some(*retry));
                    assert!(r.detail.contains(&format!("per {window}")), "{}", r.detail);
                    assert_eq!(w, *before, "a refused request counts nothing");
                }
            }
        }
    }

    /// A minute limit refuses until the minute ends; the next minute's clock sees the stored
    /// window as passed and admits again, while the day keeps counting.
    #[test]
    fn a_new_window_admits_again() {
        let h = hook(2, 3);
        let c = RateClock::at(T);
        let mut w = Windows::default();
        assert!(admit(&mut w, &h, &c).is_ok());
        assert!(admit(&mut w, &h, &c).is_ok());
        assert_eq!(admit(&mut w, &h, &c).unwrap_err().retry_after, Some(30));
        // The last millisecond of the minute: still refused, one second left.
        let end = RateClock::at(c.minute_start + MINUTE_MS - 1);
        assert_eq!(admit(&mut w, &h, &end).unwrap_err().retry_after, Some(1));
        // The next minute: the stored minute window counts nothing, the day window still does.
        let next = RateClock::at(c.minute_start + MINUTE_MS);
        let mut w = Windows {
            minute: next.current(c.minute_start, w.minute, MINUTE_MS),
            day: next.current(c.day_start, w.day, DAY_MS),
        };
        assert_eq!(w, Windows { minute: 0, day: 2 });
        assert!(admit(&mut w, &h, &next).is_ok());
        let r = admit(&mut w, &h, &next).unwrap_err();
        assert!(r.detail.contains("per day"), "{}", r.detail);
        // The next UTC day: both windows start over.
        let tomorrow = RateClock::at(c.day_start + DAY_MS);
        assert_eq!(tomorrow.current(c.day_start, 3, DAY_MS), 0);
        assert_eq!(tomorrow.current(tomorrow.day_start, 3, DAY_MS), 3);
    }
}
