//! [`Map`] and [`MapUnordered`]: a call applied to many inputs, in chunks,
//! with a bound on the work in flight.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use interp_core::Value;

use crate::call::Call;
use crate::error::{PoolError, TaskError};
use crate::registry::Registry;
use crate::task::{Output, Task, Work};

type Progress<'p> = Box<dyn FnMut(usize) + 'p>;

/// The iterator [`Pool::map`](crate::Pool::map) returns. Results come as `Result<Value,
/// TaskError>`, one per input. Dropping it cancels work not yet yielded.
pub struct Map<'p, I: Iterator<Item = Value>> {
    registry: &'p Arc<Registry>,
    call: Call,
    inputs: I,
    ordered: bool,
    chunk: usize,
    max_in_flight: usize,
    next_index: usize,
    /// Submitted chunks: start index, length, and the task (or the error
    /// that kept it from being submitted, kept in order).
    in_flight: VecDeque<(usize, usize, Result<Task, TaskError>)>,
    ready: VecDeque<(usize, Result<Value, TaskError>)>,
    completions: Option<(Sender<usize>, Receiver<usize>)>,
    progress: Option<Progress<'p>>,
    done: usize,
    exhausted: bool,
}

impl<'p, I: Iterator<Item = Value>> Map<'p, I> {
    /// A map over `inputs` on the pool of `registry`; `ordered`: results
    /// in input order (else as chunks complete).
    pub(crate) fn new(registry: &'p Arc<Registry>, call: Call, inputs: I, ordered: bool) -> Self {
        Map {
            registry,
            call,
            inputs,
            ordered,
            chunk: 256,
            max_in_flight: registry.config().workers * 4,
            next_index: 0,
            in_flight: VecDeque::new(),
            ready: VecDeque::new(),
            completions: (!ordered).then(crossbeam_channel::unbounded),
            progress: None,
            done: 0,
            exhausted: false,
        }
    }

    /// Inputs per task (default 256): larger chunks amortize dispatch,
    /// smaller ones balance uneven work.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self
    }

    /// At most this many chunks submitted and not yet consumed (default
    /// 4 per worker): bounds memory for long or endless inputs.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Called with the number of inputs completed so far, after each chunk.
    pub fn progress(mut self, f: impl FnMut(usize) + 'p) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    fn fill(&mut self) {
        while !self.exhausted && self.in_flight.len() < self.max_in_flight {
            let items: Vec<Value> = self.inputs.by_ref().take(self.chunk).collect();
            if items.is_empty() {
                self.exhausted = true;
                break;
            }
            let start = self.next_index;
            let n = items.len();
            self.next_index += n;
            match self
                .registry
                .submit(Work::Chunk(self.call.clone(), items), self.call.timeout)
            {
                Ok(t) => {
                    if let Some((tx, _)) = &self.completions {
                        t.add_listener(tx.clone(), start);
                    }
                    self.in_flight.push_back((start, n, Ok(t)));
                }
                Err(e) => {
                    // Keep the failure in order, and stop pulling inputs:
                    // the pool takes no more work.
                    let err = match e {
                        PoolError::Shutdown => TaskError::Shutdown,
                        other => TaskError::Failed(other.to_string()),
                    };
                    self.in_flight.push_back((start, n, Err(err)));
                    self.exhausted = true;
                }
            }
        }
    }

    fn collect_chunk(&mut self, start: usize, len: usize, task: Result<Task, TaskError>) {
        let outcome = match task {
            Ok(task) => task.take_outcome(),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Output::Chunk(items)) => {
                self.ready
                    .extend(items.into_iter().enumerate().map(|(k, r)| (start + k, r)));
            }
            Ok(Output::Value(v)) => self.ready.push_back((start, Ok(v))),
            // The whole chunk failed (cancelled, timed out, worker lost,
            // function not found, not submitted): every input gets the error.
            Err(e) => self
                .ready
                .extend((start..start + len).map(|i| (i, Err(e.clone())))),
        }
        self.done += len;
        if let Some(p) = &mut self.progress {
            p(self.done);
        }
    }

    /// The next `(input index, result)`.
    fn next_indexed(&mut self) -> Option<(usize, Result<Value, TaskError>)> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            self.fill();
            if self.in_flight.is_empty() {
                return None;
            }
            let failed = self.in_flight.iter().position(|(_, _, t)| t.is_err());
            let pos = if self.ordered {
                0
            } else if let Some(p) = failed {
                p
            } else {
                let (_, rx) = self
                    .completions
                    .as_ref()
                    .expect("unordered map has a channel");
                loop {
                    let start = rx.recv().ok()?;
                    if let Some(p) = self.in_flight.iter().position(|(s, _, _)| *s == start) {
                        break p;
                    }
                }
            };
            let (start, len, task) = self.in_flight.remove(pos).expect("in flight");
            self.collect_chunk(start, len, task);
        }
    }
}

impl<I: Iterator<Item = Value>> Iterator for Map<'_, I> {
    type Item = Result<Value, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_indexed().map(|(_, r)| r)
    }
}

/// The iterator [`Pool::map_unordered`](crate::Pool::map_unordered) returns: `(input index, result)`
/// as chunks complete.
pub struct MapUnordered<'p, I: Iterator<Item = Value>>(Map<'p, I>);

impl<'p, I: Iterator<Item = Value>> MapUnordered<'p, I> {
    /// A map whose results come as chunks complete.
    pub(crate) fn new(registry: &'p Arc<Registry>, call: Call, inputs: I) -> Self {
        MapUnordered(Map::new(registry, call, inputs, false))
    }
}

impl<'p, I: Iterator<Item = Value>> MapUnordered<'p, I> {
    /// See [`Map::chunk_size`].
    pub fn chunk_size(self, n: usize) -> Self {
        MapUnordered(self.0.chunk_size(n))
    }

    /// See [`Map::max_in_flight`].
    pub fn max_in_flight(self, n: usize) -> Self {
        MapUnordered(self.0.max_in_flight(n))
    }

    /// See [`Map::progress`].
    pub fn progress(self, f: impl FnMut(usize) + 'p) -> Self {
        MapUnordered(self.0.progress(f))
    }
}

impl<I: Iterator<Item = Value>> Iterator for MapUnordered<'_, I> {
    type Item = (usize, Result<Value, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_indexed()
    }
}

impl<I: Iterator<Item = Value>> Drop for Map<'_, I> {
    fn drop(&mut self) {
        for (_, _, t) in &self.in_flight {
            if let Ok(t) = t {
                t.cancel();
            }
        }
    }
}

impl<I: Iterator<Item = Value>> fmt::Debug for Map<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("call", &self.call.describe())
            .field("ordered", &self.ordered)
            .field("chunk_size", &self.chunk)
            .field("max_in_flight", &self.max_in_flight)
            .field("in_flight", &self.in_flight.len())
            .field("done", &self.done)
            .field("inputs_exhausted", &self.exhausted)
            .finish()
    }
}

impl<I: Iterator<Item = Value>> fmt::Debug for MapUnordered<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MapUnordered").field(&self.0).finish()
    }
}
