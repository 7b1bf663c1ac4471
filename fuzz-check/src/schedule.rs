//! The byte format shared by every target: a header byte, then one `(thread, op, arg)` triple per
//! step.
//!
//! The format is read through [`arbitrary::Unstructured`], one byte at a time, so it does not
//! depend on how `arbitrary` lays out derived types, and every schedule has a canonical encoding
//! ([`Schedule::to_bytes`]) that decodes back to itself. That is what lets the seed corpus be
//! written from readable schedules (see [`crate::seeds`]).
//!
//! ```text
//! byte 0           threads = 1 + byte % MAX_THREADS
//! bytes 1 + 3k ..  step k: thread = byte % threads, then the op's own two bytes
//! ```
//!
//! Decoding stops at [`MAX_STEPS`] steps or at the end of the input; a trailing partial step is
//! completed with zero bytes.

use std::fmt;

use arbitrary::{Arbitrary, Unstructured};

/// The most logical threads a schedule has.
pub const MAX_THREADS: usize = 4;

/// The most steps a schedule has (a few dozen keeps one execution in milliseconds).
pub const MAX_STEPS: usize = 48;

/// An operation of one target: decodes from and encodes to two bytes.
pub trait OpCodec: Sized + Clone + fmt::Debug + PartialEq {
    /// Decodes an operation from its opcode byte and its argument byte. Every pair of bytes
    /// decodes to some operation.
    fn decode(opcode: u8, arg: u8) -> Self;
    /// The canonical bytes of this operation: `decode(encode(op)) == op`.
    fn encode(&self) -> (u8, u8);
}

/// One step: logical thread `thread` performs `op`.
#[derive(Clone, Debug, PartialEq)]
pub struct Step<O> {
    /// The logical thread, below the schedule's thread count.
    pub thread: usize,
    /// What it does.
    pub op: O,
}

/// A decoded input: a thread count and the steps to run in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule<O> {
    /// Logical threads, from 1 to [`MAX_THREADS`].
    pub threads: usize,
    /// The steps, at most [`MAX_STEPS`].
    pub steps: Vec<Step<O>>,
}

impl<O: OpCodec> Schedule<O> {
    /// A schedule from `(thread, op)` pairs.
    ///
    /// # Panics
    ///
    /// If `threads` is not in `1..=MAX_THREADS`, a step names a thread at or past `threads`, or
    /// there are more than [`MAX_STEPS`] steps: such a schedule has no encoding.
    pub fn new(threads: usize, steps: impl IntoIterator<Item = (usize, O)>) -> Self {
        assert!(
            (1..=MAX_THREADS).contains(&threads),
            "1 to {MAX_THREADS} threads"
        );
        let steps: Vec<Step<O>> = steps
            .into_iter()
            .map(|(thread, op)| {
                assert!(thread < threads, "step on thread {thread} of {threads}");
                Step { thread, op }
            })
            .collect();
        assert!(steps.len() <= MAX_STEPS, "at most {MAX_STEPS} steps");
        Schedule { threads, steps }
    }

    /// Decodes a schedule from raw bytes (what the fuzz target receives).
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut u = Unstructured::new(data);
        Self::decode(&mut u)
    }

    fn decode(u: &mut Unstructured<'_>) -> Self {
        let threads = 1 + usize::from(next(u)) % MAX_THREADS;
        let mut steps = Vec::new();
        while !u.is_empty() && steps.len() < MAX_STEPS {
            let thread = usize::from(next(u)) % threads;
            let opcode = next(u);
            let arg = next(u);
            steps.push(Step {
                thread,
                op: O::decode(opcode, arg),
            });
        }
        Schedule { threads, steps }
    }

    /// The canonical encoding: [`from_bytes`](Self::from_bytes) returns `self` for it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 3 * self.steps.len());
        out.push((self.threads - 1) as u8);
        for step in &self.steps {
            let (opcode, arg) = step.op.encode();
            out.extend([step.thread as u8, opcode, arg]);
        }
        out
    }
}

impl<'a, O: OpCodec> Arbitrary<'a> for Schedule<O> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self::decode(u))
    }
}

/// The next byte of the input, or 0 once it is exhausted.
fn next(u: &mut Unstructured<'_>) -> u8 {
    u.bytes(1).map(|b| b[0]).unwrap_or(0)
}

/// Picks the `index`-th of `count` choices from a byte (`count` must be non-zero).
pub(crate) fn pick(byte: u8, count: usize) -> usize {
    usize::from(byte) % count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Nop(u8);

    impl OpCodec for Nop {
        fn decode(opcode: u8, arg: u8) -> Self {
            Nop(opcode ^ arg)
        }
        fn encode(&self) -> (u8, u8) {
            (self.0, 0)
        }
    }

    #[test]
    fn canonical_encoding_round_trips() {
        let s = Schedule::new(3, [(0, Nop(7)), (2, Nop(1)), (1, Nop(255))]);
        assert_eq!(Schedule::from_bytes(&s.to_bytes()), s);
    }

    #[test]
    fn every_input_decodes_within_bounds() {
        let s: Schedule<Nop> = Schedule::from_bytes(&[7, 9, 1, 2, 200]);
        assert_eq!(s.threads, 4);
        assert_eq!(s.steps.len(), 2);
        assert_eq!(
            s.steps[0],
            Step {
                thread: 1,
                op: Nop(3)
            }
        );
        // The partial second step is completed with zeros.
        assert_eq!(
            s.steps[1],
            Step {
                thread: 0,
                op: Nop(0)
            }
        );
        let long: Schedule<Nop> = Schedule::from_bytes(&[0; 1000]);
        assert_eq!(long.steps.len(), MAX_STEPS);
        assert_eq!(Schedule::<Nop>::from_bytes(&[]).steps.len(), 0);
    }
}
