//! Per-cell nonces: what frames a cell's markers, names its saved output, and separates
//! a completion helper's answers, so nothing a program prints can pass for them.

/// A fresh per-cell nonce: 128 random bits, hex.
pub fn new_nonce() -> String {
    use rand::Rng;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}
