//! The inline-image scanner (`terminal::inline`) on arbitrary bytes: the invariants live in
//! `terminal::fuzzing::check_inline` (the same pieces however the input is split, what it holds
//! bounded at every step; a panic anywhere is a crash). Its corpus starts with an iTerm2 image,
//! a display frame of the fixed nonce, and sequences cut or malformed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| terminal::fuzzing::check_inline(data));
