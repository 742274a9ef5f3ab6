//! [`Bell`]: a file descriptor an event loop watches (`loop.add_reader`),
//! rung from any thread. Ringing writes a byte only when the bell is not
//! rung already, so a burst of rings costs one system call.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// A socket pair: ring writes to one end, the loop watches the other.
pub(crate) struct Bell {
    tx: UnixStream,
    rx: UnixStream,
    rung: AtomicBool,
}

impl Bell {
    /// A silent bell (both ends non-blocking).
    pub(crate) fn new() -> io::Result<Bell> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Bell {
            tx,
            rx,
            rung: AtomicBool::new(false),
        })
    }

    /// The descriptor to watch: readable while the bell is rung.
    pub(crate) fn fd(&self) -> i32 {
        self.rx.as_raw_fd()
    }

    /// Makes the descriptor readable (a byte, unless one is there already).
    ///
    /// Invariant: while `rung` is set, a byte is readable or about to be
    /// written by the ring that set it (so a ring that finds it set may
    /// skip its write).
    pub(crate) fn ring(&self) {
        if self.rung.swap(true, SeqCst) {
            return;
        }
        loop {
            match (&self.tx).write(&[1]) {
                // A full socket buffer means a byte is readable already.
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // Nothing was written: leave the flag unset, so the
                    // next ring tries again instead of being skipped.
                    self.rung.store(false, SeqCst);
                    return;
                }
            }
        }
    }

    /// Silences the bell. Call it *before* looking at what it announces:
    /// a ring after this point makes the descriptor readable again, so
    /// nothing announced is missed.
    ///
    /// Drains first, then unsets the flag: a ring between the two finds
    /// the flag set and skips its write, which is fine (the caller looks
    /// at what it announces next); the other order could leave the flag
    /// set with nothing to read, and every later ring would be skipped.
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 64];
        loop {
            match (&self.rx).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        self.rung.store(false, SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads what is waiting on the watched end (without clearing the flag).
    fn pending(b: &Bell) -> usize {
        let mut buf = [0u8; 16];
        match (&b.rx).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("read: {e}"),
        }
    }

    #[test]
    fn a_burst_of_rings_is_one_byte_and_a_ring_after_clear_is_kept() {
        let b = Bell::new().unwrap();
        assert_eq!(pending(&b), 0, "a new bell is silent");
        b.ring();
        b.ring();
        b.ring();
        assert_eq!(pending(&b), 1, "three rings before a clear: one byte");
        b.ring();
        assert_eq!(pending(&b), 0, "still rung (not cleared): no new byte");
        b.clear();
        b.ring();
        b.clear();
        assert_eq!(pending(&b), 0, "clear reads what rang");
        b.ring();
        assert_eq!(pending(&b), 1, "a ring after a clear is seen");
    }

    /// A ring racing a clear, many times over: afterwards the bell must
    /// never be "rung" with nothing to read (then every later ring skips
    /// its write and the loop watching it never wakes again). The two
    /// threads hand over with spin-then-yield waits, so a busy machine
    /// only slows the test down.
    #[test]
    fn a_ring_racing_a_clear_never_leaves_the_bell_rung_and_silent() {
        use std::sync::atomic::AtomicU64;
        use std::sync::Arc;
        fn wait_for(a: &AtomicU64, i: u64) {
            let mut spins = 0u32;
            while a.load(SeqCst) < i {
                spins += 1;
                if spins < 1000 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
        }
        let b = Arc::new(Bell::new().unwrap());
        let go = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let n = 200_000u64;
        let (b2, go2, done2) = (b.clone(), go.clone(), done.clone());
        let t = std::thread::spawn(move || {
            for i in 1..=n {
                wait_for(&go2, i);
                b2.ring();
                done2.store(i, SeqCst);
            }
        });
        let mut lost = 0;
        for i in 1..=n {
            b.ring(); // the loop wakes: a byte is there
            go.store(i, SeqCst);
            b.clear();
            wait_for(&done, i);
            let readable = pending(&b) > 0;
            if b.rung.load(SeqCst) && !readable {
                lost += 1;
            }
            b.rung.store(false, SeqCst);
        }
        t.join().unwrap();
        assert_eq!(
            lost, 0,
            "rung with nothing to read (a lost wake-up) in {lost} of {n} races"
        );
    }
}
