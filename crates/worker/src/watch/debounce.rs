//! Debouncing watched changes into analysis requests, per application: a change opens a
//! window of `debounce`; each further change within it pushes the deadline out again, but
//! never past four windows after the first change, so a steady stream of changes still
//! gets analysed. Pure state, driven by the caller's clock.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// How far a burst may push its deadline, in windows after its first change.
const MAX_WINDOWS: u32 = 4;

#[derive(Debug, Clone, Copy)]
struct Pending {
    first: Instant,
    due: Instant,
}

/// Applications waiting for their window to close.
#[derive(Debug)]
pub struct Debouncer {
    window: Duration,
    pending: BTreeMap<Uuid, Pending>,
}

impl Debouncer {
    pub fn new(window: Duration) -> Self {
        Debouncer {
            window,
            pending: BTreeMap::new(),
        }
    }

    /// A change to an object `application` tracks, seen at `now`.
    pub fn changed(&mut self, application: Uuid, now: Instant) {
        let window = self.window;
        self.pending
            .entry(application)
            .and_modify(|pending| {
                let latest = pending.first + window * MAX_WINDOWS;
                pending.due = (now + window).min(latest).max(pending.due);
            })
            .or_insert(Pending {
                first: now,
                due: now + window,
            });
    }

    /// The earliest deadline, if anything is pending.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.values().map(|pending| pending.due).min()
    }

    /// Removes and returns the applications whose window has closed at `now`, sorted.
    pub fn due(&mut self, now: Instant) -> Vec<Uuid> {
        let due: Vec<Uuid> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.due <= now)
            .map(|(application, _)| *application)
            .collect();
        for application in &due {
            self.pending.remove(application);
        }
        due
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_within_the_window_is_one_request() {
        let app = Uuid::from_u128(1);
        let start = Instant::now();
        let mut debouncer = Debouncer::new(250 * MS);
        for step in 0..5 {
            debouncer.changed(app, start + step * 50 * MS);
        }
        assert!(
            debouncer.due(start + 400 * MS).is_empty(),
            "the last change was at 200 ms"
        );
        assert_eq!(debouncer.due(start + 450 * MS), vec![app]);
        assert!(debouncer.is_empty());
        assert!(debouncer.due(start + 10_000 * MS).is_empty());
    }

    #[test]
    fn a_steady_stream_is_analysed_at_least_every_four_windows() {
        let app = Uuid::from_u128(1);
        let start = Instant::now();
        let mut debouncer = Debouncer::new(250 * MS);
        let mut fired = Vec::new();
        for step in 0..40u32 {
            let now = start + step * 100 * MS;
            fired.extend(debouncer.due(now).into_iter().map(|_| step));
            debouncer.changed(app, now);
        }
        // Changes every 100 ms never let a 250 ms window close; the cap fires every 1 s.
        assert_eq!(fired, vec![10, 20, 30], "{fired:?}");
    }

    #[test]
    fn applications_are_independent_and_come_out_sorted() {
        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(1));
        let start = Instant::now();
        let mut debouncer = Debouncer::new(250 * MS);
        debouncer.changed(a, start);
        debouncer.changed(b, start + 100 * MS);
        assert_eq!(debouncer.next_due(), Some(start + 250 * MS));
        assert_eq!(debouncer.due(start + 260 * MS), vec![a]);
        assert_eq!(debouncer.due(start + 360 * MS), vec![b]);
    }
}
