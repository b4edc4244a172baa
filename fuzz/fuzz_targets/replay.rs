//! The replay a live terminal attaching mid-program is sent, on arbitrary bytes: the
//! invariants live in `terminal::fuzzing::check_replay` (a fresh renderer fed it shows the
//! same screen, cursor and modes; it asks nothing; it is bounded by the screen).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| terminal::fuzzing::check_replay(data));
