//! Has a cell's output moved the cursor up or addressed it? Until it has, a line is final
//! as soon as the cursor leaves it, and the kernel sends it at once; after it has (apt,
//! pip and docker progress redraw lines above), lines are held until they scroll out of
//! the cursor's reach. Pure: bytes in, in any chunks.

#[derive(Debug, Default)]
pub struct MotionScan {
    state: State,
    private: bool,
    /// The numeric parameter of a private mode sequence (`?1049h`), saturating.
    param: u32,
    seen: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Ground,
    Escape,
    Csi,
}

impl MotionScan {
    pub fn seen(&self) -> bool {
        self.seen
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.seen {
            return;
        }
        for &b in bytes {
            self.state = match (self.state, b) {
                (_, 0x1b) => State::Escape,
                (State::Escape, b'[') => {
                    self.private = false;
                    self.param = 0;
                    State::Csi
                }
                // Reverse index, save/restore cursor.
                (State::Escape, b'M' | b'7' | b'8') => {
                    self.seen = true;
                    State::Ground
                }
                (State::Escape, _) => State::Ground,
                (State::Csi, b'?') => {
                    self.private = true;
                    State::Csi
                }
                (State::Csi, b';') => {
                    self.param = 0;
                    State::Csi
                }
                (State::Csi, b'0'..=b'9') => {
                    self.param = self
                        .param
                        .saturating_mul(10)
                        .saturating_add(u32::from(b - b'0'));
                    State::Csi
                }
                (State::Csi, 0x40..=0x7e) => {
                    // Cursor up, previous line, position, row, save/restore, scroll region,
                    // and the alternate screen (47, 1047, 1049); showing or hiding the
                    // cursor (?25h/l, common in progress bars) moves nothing.
                    if matches!(b, b'A' | b'F' | b'H' | b'f' | b'd' | b's' | b'u' | b'r')
                        || (self.private && b == b'h' && matches!(self.param, 47 | 1047 | 1049))
                    {
                        self.seen = true;
                    }
                    State::Ground
                }
                (State::Csi, _) => State::Csi,
                (State::Ground, _) => State::Ground,
            };
            if self.seen {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(chunks: &[&[u8]]) -> bool {
        let mut m = MotionScan::default();
        for c in chunks {
            m.feed(c);
        }
        m.seen()
    }

    #[test]
    fn plain_output_and_colours_are_not_motion() {
        assert!(!seen(&[
            b"hello\r\n\x1b[31mred\x1b[0m\r\nprogress 10%\r",
            b"\x1b[K\x1b[2K"
        ]));
    }

    #[test]
    fn cursor_up_and_addressing_are_motion_even_split() {
        assert!(seen(&[b"a\n\x1b[", b"2A"]));
        assert!(seen(&[b"\x1b[10;1H"]));
        assert!(seen(&[b"\x1b", b"M"]));
        assert!(seen(&[b"\x1b[?10", b"49h"]));
        assert!(!seen(&[b"\x1b[?25l50%\r\x1b[?25h"]));
    }
}
