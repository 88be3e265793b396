//! Schedule events' times: a standard 5-field cron expression with an optional IANA time zone,
//! and the next due time after an instant. Pure: the engine's scheduler (which fires due times)
//! and the management services (which compute an event's first due time) both use it.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use croner::Cron;

/// A parsed schedule.
pub struct Schedule {
    cron: Cron,
    tz: chrono_tz::Tz,
}

impl Schedule {
    /// Parses a 5-field cron expression and an optional time zone (default UTC).
    pub fn parse(expr: &str, timezone: Option<&str>) -> Result<Schedule, String> {
        let fields = expr.split_whitespace().count();
        if fields != 5 {
            return Err(format!(
                "schedule {expr:?} has {fields} fields; use a standard 5-field cron expression \
                 (minute hour day-of-month month day-of-week), e.g. \"*/5 * * * *\""
            ));
        }
        let cron = Cron::from_str(expr).map_err(|e| format!("schedule {expr:?}: {e}"))?;
        let tz = match timezone {
            None | Some("") => chrono_tz::UTC,
            Some(t) => t.parse::<chrono_tz::Tz>().map_err(|_| {
                format!("unknown time zone {t:?}; use an IANA name like Europe/Paris")
            })?,
        };
        Ok(Schedule { cron, tz })
    }

    /// The first due time strictly after `after_ms` (unix ms), on a whole minute.
    pub fn next_after(&self, after_ms: i64) -> Result<i64, String> {
        // The cron search keeps the start's sub-second part: start from the whole second (a due
        // time is never inside the second that `after_ms` is in, the search being exclusive).
        let start = Utc
            .timestamp_millis_opt(after_ms.div_euclid(1000) * 1000)
            .single()
            .ok_or("time out of range")?
            .with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&start, false)
            .map(|t| t.timestamp_millis())
            .map_err(|e| format!("no next due time: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_due_times() {
        let s = Schedule::parse("*/5 * * * *", None).unwrap();
        // 2026-01-01T00:01:00Z -> 00:05
        let t = 1_767_225_660_000;
        assert_eq!(s.next_after(t).unwrap(), 1_767_225_900_000);
        let p = Schedule::parse("0 9 * * *", Some("Europe/Paris")).unwrap();
        // 09:00 Paris in winter is 08:00 UTC.
        assert_eq!(p.next_after(1_767_225_600_000).unwrap(), 1_767_254_400_000);
        // Due times are whole minutes whatever the milliseconds of the start.
        assert_eq!(s.next_after(t + 2_645).unwrap(), 1_767_225_900_000);
        let every = Schedule::parse("* * * * *", None).unwrap();
        assert_eq!(every.next_after(t + 2_645).unwrap(), t + 60_000);
        assert_eq!(every.next_after(t).unwrap(), t + 60_000);
        assert_eq!(every.next_after(t - 1).unwrap(), t);
        // Milliseconds of the start never leak into a due time.
        assert_eq!(s.next_after(t + 14_159).unwrap(), 1_767_225_900_000);
        assert!(Schedule::parse("* * * *", None).is_err());
        assert!(Schedule::parse("* * * * *", Some("Mars/Olympus")).is_err());
        assert!(Schedule::parse("61 * * * *", None).is_err());
    }
}
