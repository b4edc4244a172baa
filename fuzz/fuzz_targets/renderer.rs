//! The renderer on arbitrary bytes: the invariants live in `terminal::fuzzing::check` (size
//! from the first two bytes, same output however the stream is split, only SGR and '\n' in the
//! saved text, every view takeable at any point).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| terminal::fuzzing::check(data));
