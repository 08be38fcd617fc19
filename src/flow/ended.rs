//! A batch's outcomes as they are decided. Each is set once, when nothing later in the batch can change
//! it (a track whose POST answered, an event refused at planning, a round's identify or group once its
//! round is over), so the batch reports it at the next step: a host that records finished events (the
//! edge's messageId window) then knows them while the rest of a long batch still runs.

use serde::Serialize;

use crate::outcome::{Code, Outcome};

/// An event that ended since the previous step: its input position and its final outcome.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Ended {
    pub index: usize,
    pub outcome: Outcome,
}

#[derive(Default)]
pub(super) struct Ledger {
    outcomes: Vec<Option<Outcome>>,
    /// (echo, first): an identify repeated exactly ends when, and as, its first one does.
    echoes: Vec<(usize, usize)>,
    /// Ended since the host last took them.
    fresh: Vec<usize>,
}

impl Ledger {
    pub(super) fn new(events: usize) -> Ledger {
        Ledger { outcomes: vec![None; events], ..Ledger::default() }
    }

    pub(super) fn echo(&mut self, echo: usize, first: usize) {
        self.echoes.push((echo, first));
    }

    /// Ends event `index`. A second end of one event changes nothing: what was reported stands.
    pub(super) fn end(&mut self, index: usize, outcome: Outcome) {
        if self.outcomes[index].is_some() {
            return;
        }
        let echoes: Vec<(usize, Outcome)> =
            self.echoes.iter().filter(|(_, f)| *f == index).map(|(e, _)| (*e, echoed(index, &outcome))).collect();
        self.outcomes[index] = Some(outcome);
        self.fresh.push(index);
        for (echo, outcome) in echoes {
            self.end(echo, outcome);
        }
    }

    /// The events ended since the last call, in the order they ended.
    pub(super) fn take_fresh(&mut self) -> Vec<Ended> {
        let fresh = std::mem::take(&mut self.fresh);
        fresh.into_iter().filter_map(|index| Some(Ended { index, outcome: self.outcomes[index].clone()? })).collect()
    }

    /// Every event's outcome in input order; `missing` for those that never ended (a bug), so the ones
    /// reported early stay as reported.
    pub(super) fn finish(&mut self, missing: &str) -> Vec<Outcome> {
        self.fresh.clear();
        self.outcomes
            .iter_mut()
            .map(|o| o.take().unwrap_or_else(|| Outcome::new(Code::UnexpectedResponse, missing)))
            .collect()
    }
}

/// The outcome of an exact repeat of event `first`'s identify: what was written needs no second write.
fn echoed(first: usize, outcome: &Outcome) -> Outcome {
    match outcome.code {
        Code::Delivered | Code::Unchanged => {
            let mut same = Outcome::new(
                Code::Unchanged,
                format!(
                    "user unchanged: the same write as event {first} of this batch ({}); nothing more was sent",
                    outcome.message
                ),
            );
            same.mapping = outcome.mapping.clone();
            same
        }
        _ => outcome.clone(),
    }
}
