//! Validated handles: the pointers C sees are tagged, generation-checked
//! keys into per-type registries, never addresses. A NULL, freed, foreign or
//! wrong-type handle is reported as `INTERP_ERR_INVALID_HANDLE`.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use crate::error::CError;

const GEN_BITS: u32 = 24;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;

struct Entry<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
}

/// A registry of live handles of one type.
pub(crate) struct Registry<T, H> {
    tag: u8,
    what: &'static str,
    slab: Mutex<Slab<T>>,
    _handle: PhantomData<fn() -> H>,
}

impl<T, H> Registry<T, H> {
    pub(crate) const fn new(tag: u8, what: &'static str) -> Self {
        Registry {
            tag,
            what,
            slab: Mutex::new(Slab {
                entries: Vec::new(),
                free: Vec::new(),
            }),
            _handle: PhantomData,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slab<T>> {
        // Entries are only pushed/replaced: poisoning leaves them consistent.
        crate::lock(&self.slab)
    }

    fn encode(&self, index: u32, generation: u32) -> *mut H {
        let bits =
            ((self.tag as u64) << 56) | (((generation as u64) & GEN_MASK) << 32) | index as u64;
        bits as usize as *mut H
    }

    fn decode(&self, h: *const H) -> Result<(usize, u32), CError> {
        let bits = h as usize as u64;
        if h.is_null() {
            return Err(CError::invalid_handle(format!("NULL {} handle", self.what)));
        }
        if (bits >> 56) as u8 != self.tag || (bits >> 32) & !GEN_MASK & 0xff != 0 {
            return Err(CError::invalid_handle(format!(
                "{h:p} is not an {} handle (a foreign pointer, or a handle of another type)",
                self.what
            )));
        }
        Ok((
            (bits & 0xffff_ffff) as usize,
            ((bits >> 32) & GEN_MASK) as u32,
        ))
    }

    /// Registers `value` and returns its new handle.
    pub(crate) fn insert(&self, value: T) -> *mut H {
        let mut slab = self.lock();
        let value = Some(Arc::new(value));
        if let Some(i) = slab.free.pop() {
            let e = &mut slab.entries[i as usize];
            e.value = value;
            let g = e.generation;
            return self.encode(i, g);
        }
        let i = slab.entries.len() as u32;
        slab.entries.push(Entry {
            generation: 1,
            value,
        });
        self.encode(i, 1)
    }

    /// The object behind a live handle.
    pub(crate) fn get(&self, h: *const H) -> Result<Arc<T>, CError> {
        let (i, g) = self.decode(h)?;
        let slab = self.lock();
        match slab.entries.get(i) {
            Some(Entry {
                generation,
                value: Some(v),
            }) if (*generation as u64 & GEN_MASK) as u32 == g => Ok(v.clone()),
            _ => Err(CError::invalid_handle(format!(
                "{h:p} is a freed or unknown {} handle",
                self.what
            ))),
        }
    }

    /// Frees a handle (the object lives on while other references exist).
    pub(crate) fn remove(&self, h: *const H) -> Result<Arc<T>, CError> {
        let (i, g) = self.decode(h)?;
        let mut slab = self.lock();
        let ok = matches!(slab.entries.get(i), Some(Entry { generation, value: Some(_) }) if (*generation as u64 & GEN_MASK) as u32 == g);
        if !ok {
            return Err(CError::invalid_handle(format!(
                "{h:p} is a freed or unknown {} handle (double free?)",
                self.what
            )));
        }
        let e = &mut slab.entries[i];
        let v = e.value.take().expect("checked");
        if e.generation as u64 >= GEN_MASK {
            // Out of generations: retire the slot for good, so that no stale
            // handle can ever match a new object here.
            return Ok(v);
        }
        e.generation += 1;
        slab.free.push(i as u32);
        Ok(v)
    }
}
