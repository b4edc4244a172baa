//! Mouse reporting modes a program asks for: the frontend must know them to send mouse
//! events (mc, htop, vi with `mouse=a`), and a replay must set them again.
//!
//! As in xterm (charproc.c, `DECSET`): the four tracking modes are one setting, and resetting
//! any of them turns tracking off; the three coordinate encodings are one setting, and
//! resetting one only has an effect if it is the one in use. (xterm.js resets 1006
//! unconditionally; the difference shows only for a program mixing encodings.)

/// Which mouse events the program wants reported (DECSET 9, 1000, 1002, 1003).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MouseTracking {
    #[default]
    Off,
    /// 9: button presses only (X10 compatibility).
    X10,
    /// 1000: presses and releases.
    Normal,
    /// 1002: presses, releases, and motion while a button is held.
    ButtonEvent,
    /// 1003: presses, releases, and all motion.
    AnyEvent,
}

impl MouseTracking {
    /// The private mode that selects it; `None` for [`MouseTracking::Off`].
    pub fn mode(self) -> Option<u16> {
        match self {
            MouseTracking::Off => None,
            MouseTracking::X10 => Some(9),
            MouseTracking::Normal => Some(1000),
            MouseTracking::ButtonEvent => Some(1002),
            MouseTracking::AnyEvent => Some(1003),
        }
    }

    pub(crate) fn from_mode(mode: u16) -> Option<MouseTracking> {
        Some(match mode {
            9 => MouseTracking::X10,
            1000 => MouseTracking::Normal,
            1002 => MouseTracking::ButtonEvent,
            1003 => MouseTracking::AnyEvent,
            _ => return None,
        })
    }
}

/// How mouse reports encode coordinates (DECSET 1005, 1006, 1015).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MouseEncoding {
    /// `CSI M` followed by three bytes (coordinates up to 223).
    #[default]
    Default,
    /// 1005: the same with coordinates as UTF-8.
    Utf8,
    /// 1006: `CSI < b ; x ; y M` / `m`, what current programs use.
    Sgr,
    /// 1015: `CSI b ; x ; y M` (urxvt).
    Urxvt,
}

impl MouseEncoding {
    /// The private mode that selects it; `None` for [`MouseEncoding::Default`].
    pub fn mode(self) -> Option<u16> {
        match self {
            MouseEncoding::Default => None,
            MouseEncoding::Utf8 => Some(1005),
            MouseEncoding::Sgr => Some(1006),
            MouseEncoding::Urxvt => Some(1015),
        }
    }

    pub(crate) fn from_mode(mode: u16) -> Option<MouseEncoding> {
        Some(match mode {
            1005 => MouseEncoding::Utf8,
            1006 => MouseEncoding::Sgr,
            1015 => MouseEncoding::Urxvt,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for m in [9, 1000, 1002, 1003] {
            assert_eq!(
                MouseTracking::from_mode(m).and_then(MouseTracking::mode),
                Some(m)
            );
        }
        for m in [1005, 1006, 1015] {
            assert_eq!(
                MouseEncoding::from_mode(m).and_then(MouseEncoding::mode),
                Some(m)
            );
        }
        assert_eq!(MouseTracking::Off.mode(), None);
        assert_eq!(MouseEncoding::Default.mode(), None);
    }
}
