//! Validated handles: the pointers C sees are tagged, generation-checked
//! keys into per-type registries, never addresses. A NULL, freed, foreign or
//! wrong-type handle is reported as `INTERP_ERR_INVALID_HANDLE`.
//!
//! A handle's 64 bits: the registry's tag (8), the slot's generation (24),
//! the slot's index (32). Freeing a handle bumps its slot's generation, so
//! a stale handle never matches the slot's next object; a slot whose
//! generations run out is retired.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

/// A NULL, foreign, wrong-type, freed or unknown handle: what was wrong
/// with it (the error module turns it into `INTERP_ERR_INVALID_HANDLE`).
#[derive(Debug)]
pub(crate) struct InvalidHandle(pub(crate) String);

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

    fn decode(&self, h: *const H) -> Result<(usize, u32), InvalidHandle> {
        let bits = h as usize as u64;
        if h.is_null() {
            return Err(InvalidHandle(format!("NULL {} handle", self.what)));
        }
        if (bits >> 56) as u8 != self.tag {
            return Err(InvalidHandle(format!(
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
    pub(crate) fn get(&self, h: *const H) -> Result<Arc<T>, InvalidHandle> {
        let (i, g) = self.decode(h)?;
        let slab = self.lock();
        match slab.entries.get(i) {
            Some(Entry {
                generation,
                value: Some(v),
            }) if (*generation as u64 & GEN_MASK) as u32 == g => Ok(v.clone()),
            _ => Err(InvalidHandle(format!(
                "{h:p} is a freed or unknown {} handle",
                self.what
            ))),
        }
    }

    /// Frees a handle (the object lives on while other references exist).
    pub(crate) fn remove(&self, h: *const H) -> Result<Arc<T>, InvalidHandle> {
        let (i, g) = self.decode(h)?;
        let mut slab = self.lock();
        let ok = matches!(slab.entries.get(i), Some(Entry { generation, value: Some(_) }) if (*generation as u64 & GEN_MASK) as u32 == g);
        if !ok {
            return Err(InvalidHandle(format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The handle type of the test registries.
    struct Thing;

    fn registry(tag: u8) -> Registry<String, Thing> {
        Registry::new(tag, "interp_thing_t")
    }

    /// The message of an invalid-handle error.
    #[track_caller]
    fn refused<T: std::fmt::Debug>(r: Result<T, InvalidHandle>) -> String {
        match r {
            Err(InvalidHandle(m)) => m,
            other => panic!("expected an invalid handle, got {other:?}"),
        }
    }

    #[test]
    fn handles_carry_tag_generation_and_index() {
        let r = registry(0x5a);
        let a = r.insert("a".into());
        let b = r.insert("b".into());
        assert_eq!(a as usize as u64, 0x5a00_0001_0000_0000, "{a:p}");
        assert_eq!(b as usize as u64, 0x5a00_0001_0000_0001, "{b:p}");
        assert_eq!(*r.get(a).unwrap(), "a");
        assert_eq!(*r.get(b).unwrap(), "b");
        for (index, generation) in [(0, 1), (u32::MAX, GEN_MASK as u32), (7, 0x12_3456)] {
            let h = r.encode(index, generation);
            assert_eq!(r.decode(h).unwrap(), (index as usize, generation), "{h:p}");
        }
    }

    #[test]
    fn null_foreign_and_other_type_handles_are_refused() {
        let r = registry(1);
        let other = registry(2);
        let mine = r.insert("mine".into());
        let theirs = other.insert("theirs".into());
        assert_eq!(
            refused(r.get(std::ptr::null())),
            "NULL interp_thing_t handle"
        );
        let msg = refused(r.get(theirs));
        assert!(
            msg.ends_with(
                "is not an interp_thing_t handle (a foreign pointer, or a handle of another type)"
            ),
            "{msg}"
        );
        // An address, as a foreign pointer would be: its top byte is no tag.
        let local = 0u8;
        let foreign = (&local as *const u8).cast::<Thing>();
        assert!(refused(r.get(foreign)).contains("is not an interp_thing_t handle"));
        assert_eq!(*r.get(mine).unwrap(), "mine");
    }

    #[test]
    fn freed_handles_stay_invalid_after_their_slot_is_reused() {
        let r = registry(3);
        let old = r.insert("old".into());
        assert_eq!(*r.remove(old).unwrap(), "old");
        assert!(refused(r.get(old)).ends_with("is a freed or unknown interp_thing_t handle"));
        assert!(refused(r.remove(old)).ends_with("(double free?)"));
        let new = r.insert("new".into());
        assert_eq!(
            new as usize as u64,
            old as usize as u64 + (1 << 32),
            "the slot is reused with the next generation"
        );
        assert!(refused(r.get(old)).ends_with("is a freed or unknown interp_thing_t handle"));
        assert_eq!(*r.get(new).unwrap(), "new");
        // An index beyond every slot.
        assert!(refused(r.get(r.encode(99, 1)))
            .ends_with("is a freed or unknown interp_thing_t handle"));
    }

    #[test]
    fn a_slot_out_of_generations_is_retired() {
        let r = registry(4);
        let h = r.insert("last".into());
        r.lock().entries[0].generation = GEN_MASK as u32;
        let last = r.encode(0, GEN_MASK as u32);
        assert_eq!(*r.get(last).unwrap(), "last");
        assert_eq!(*r.remove(last).unwrap(), "last");
        let next = r.insert("next".into());
        assert_eq!(
            r.decode(next).unwrap(),
            (1, 1),
            "a new slot, not the retired one"
        );
        assert!(refused(r.get(last)).ends_with("is a freed or unknown interp_thing_t handle"));
        assert!(refused(r.get(h)).ends_with("is a freed or unknown interp_thing_t handle"));
    }

    #[test]
    fn the_object_outlives_its_handle_while_referenced() {
        let r = registry(5);
        let h = r.insert("kept".into());
        let kept = r.get(h).unwrap();
        drop(r.remove(h).unwrap());
        assert_eq!(*kept, "kept");
    }
}
