//! Executors on top of interp-core (a pool of isolated interpreters): built in the pool issue.
