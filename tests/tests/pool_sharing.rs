//! Cross-crate: a pool whose workers share memory and channels with Rust.
//! Workers fill disjoint rows of one SharedBuffer in parallel (no copies),
//! report progress over a Channel, and read a Frozen lookup table handed
//! over once per worker.

use interp_core::{Channel, Frozen, SharedBuffer, Value};
use interp_pool::{Call, Pool};

const ROWS: usize = 64;
const COLS: usize = 1024;

#[test]
fn workers_fill_a_shared_grid_and_report_over_a_channel() {
    let grid = SharedBuffer::zeroed(ROWS * COLS * 8)
        .with_layout("d", &[ROWS, COLS])
        .unwrap();
    let (progress, started) = (Channel::unbounded(), Channel::unbounded());
    let weights = Frozen::from_value(&Value::list(
        (0..COLS).map(|c| Value::Float((c % 7) as f64)),
    ))
    .unwrap();
    let pool = Pool::builder()
        .workers(2)
        .wait_for_all_workers(true)
        .prepare_main("grid", grid.clone())
        .prepare_main("progress", progress.clone())
        .prepare_main("started", started.clone())
        .prepare_main("weights", weights)
        .init_source(
            "import interp\n\
             def fill(r):\n    if r == 0:\n        started.recv(timeout=60)  # the second chunk runs meanwhile: on the other worker\n    if r == 4:\n        started.send(None)\n    mv = memoryview(grid)\n    for c in range(len(weights)):\n        mv[r, c] = r * weights[c]\n    progress.send((interp.interpreter_id(), r))\n    return r\n",
        )
        .build()
        .unwrap();
    let rows: Vec<i64> = pool
        .map(
            Call::new("__main__", "fill"),
            (0..ROWS as i64).map(Value::from),
        )
        .chunk_size(4)
        .map(|r| r.unwrap().as_i64().unwrap())
        .collect();
    assert_eq!(rows, (0..ROWS as i64).collect::<Vec<_>>());

    // Every row was written in place, by the workers' interpreters.
    // SAFETY: the pool is idle; nothing writes the grid any more.
    let cells: &[u8] = unsafe { grid.as_slice() };
    for r in [0, 1, 17, ROWS - 1] {
        for c in [0, 5, 6, COLS - 1] {
            let off = (r * COLS + c) * 8;
            let x = f64::from_le_bytes(cells[off..off + 8].try_into().unwrap());
            assert_eq!(x, (r * (c % 7)) as f64, "cell ({r}, {c})");
        }
    }
    // One progress message per row, from more than one interpreter: the
    // first chunk waits for the second, so the second ran on the other
    // worker (a busy machine may otherwise let one worker take them all).
    let mut seen = Vec::new();
    let mut interpreters = std::collections::BTreeSet::new();
    while let Ok(v) = progress.try_recv() {
        let pair = v.as_seq().unwrap().to_vec();
        interpreters.insert(pair[0].as_i64().unwrap());
        seen.push(pair[1].as_i64().unwrap());
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..ROWS as i64).collect::<Vec<_>>());
    assert!(
        interpreters.len() >= 2,
        "work was spread over the workers' interpreters: {interpreters:?}"
    );
}
