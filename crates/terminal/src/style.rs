//! Cell attributes (SGR state): parsing `CSI … m` and writing it back out in a normalised form.

/// A colour as the program asked for it; the palette is the frontend's business.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Color {
    #[default]
    Default,
    /// One of the 256 indexed colours (0–7 normal, 8–15 bright, 16–255 cube and greys).
    Idx(u8),
    Rgb(u8, u8, u8),
}

/// Attribute bits. Blink and hidden are kept so that a program hiding text stays hidden.
pub(crate) const BOLD: u16 = 1;
pub(crate) const DIM: u16 = 1 << 1;
pub(crate) const ITALIC: u16 = 1 << 2;
pub(crate) const UNDERLINE: u16 = 1 << 3;
pub(crate) const BLINK: u16 = 1 << 4;
pub(crate) const INVERSE: u16 = 1 << 5;
pub(crate) const HIDDEN: u16 = 1 << 6;
pub(crate) const STRIKE: u16 = 1 << 7;

/// The graphic rendition of one cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Style {
    pub fg: Color,
    pub bg: Color,
    pub(crate) flags: u16,
}

impl Style {
    pub fn bold(&self) -> bool {
        self.flags & BOLD != 0
    }
    pub fn dim(&self) -> bool {
        self.flags & DIM != 0
    }
    pub fn italic(&self) -> bool {
        self.flags & ITALIC != 0
    }
    pub fn underline(&self) -> bool {
        self.flags & UNDERLINE != 0
    }
    pub fn inverse(&self) -> bool {
        self.flags & INVERSE != 0
    }
    pub fn hidden(&self) -> bool {
        self.flags & HIDDEN != 0
    }
    pub fn strike(&self) -> bool {
        self.flags & STRIKE != 0
    }

    /// Whether a blank cell in this style looks different from an unwritten one: only then
    /// do trailing blanks have to be kept in line output. (Cells keep their style as
    /// [`Attrs`], whose version of this is checked against this one.)
    #[cfg(test)]
    fn visible_when_blank(&self) -> bool {
        self.bg != Color::Default || self.flags & (INVERSE | UNDERLINE | STRIKE) != 0
    }

    /// The style erased cells get: xterm and tmux fill with the current background colour
    /// (back-colour erase) but no other attribute. ([`Attrs::erase_style`] is checked
    /// against this.)
    #[cfg(test)]
    fn erase_style(&self) -> Style {
        Style {
            bg: self.bg,
            ..Style::default()
        }
    }

    /// Apply the parameters of one `CSI … m`. Sub-parameters (`38:2::r:g:b`, `4:3`) are
    /// handled as ITU T.416 and kitty describe them; unknown codes are ignored, like xterm.
    pub(crate) fn apply_sgr(&mut self, params: &vte::Params) {
        let mut it = params.iter();
        if params.is_empty() {
            *self = Style::default();
            return;
        }
        while let Some(p) = it.next() {
            let code = p.first().copied().unwrap_or(0);
            match code {
                0 => *self = Style::default(),
                1 => self.flags |= BOLD,
                2 => self.flags |= DIM,
                3 => self.flags |= ITALIC,
                4 => {
                    // `4:0` is "no underline" in the kitty/VTE extension; other styles
                    // (double, curly…) all map to plain underline.
                    if p.get(1) == Some(&0) {
                        self.flags &= !UNDERLINE
                    } else {
                        self.flags |= UNDERLINE
                    }
                }
                5 | 6 => self.flags |= BLINK,
                7 => self.flags |= INVERSE,
                8 => self.flags |= HIDDEN,
                9 => self.flags |= STRIKE,
                21 => self.flags |= UNDERLINE,
                22 => self.flags &= !(BOLD | DIM),
                23 => self.flags &= !ITALIC,
                24 => self.flags &= !UNDERLINE,
                25 => self.flags &= !BLINK,
                27 => self.flags &= !INVERSE,
                28 => self.flags &= !HIDDEN,
                29 => self.flags &= !STRIKE,
                30..=37 => self.fg = Color::Idx((code - 30) as u8),
                38 => {
                    if let Some(c) = extended_color(p, &mut it) {
                        self.fg = c
                    }
                }
                39 => self.fg = Color::Default,
                40..=47 => self.bg = Color::Idx((code - 40) as u8),
                48 => {
                    if let Some(c) = extended_color(p, &mut it) {
                        self.bg = c
                    }
                }
                49 => self.bg = Color::Default,
                // 58/59 set the underline colour: consume its arguments, keep nothing.
                58 => {
                    let _ = extended_color(p, &mut it);
                }
                90..=97 => self.fg = Color::Idx((code - 90 + 8) as u8),
                100..=107 => self.bg = Color::Idx((code - 100 + 8) as u8),
                _ => {}
            }
        }
    }

    /// Write the SGR parameters that produce this style from a reset state, without the
    /// leading `ESC [` and trailing `m` (e.g. `0;1;31`).
    fn write_params(&self, out: &mut String) {
        out.push('0');
        const BITS: [(u16, &str); 8] = [
            (BOLD, ";1"),
            (DIM, ";2"),
            (ITALIC, ";3"),
            (UNDERLINE, ";4"),
            (BLINK, ";5"),
            (INVERSE, ";7"),
            (HIDDEN, ";8"),
            (STRIKE, ";9"),
        ];
        for (bit, s) in BITS {
            if self.flags & bit != 0 {
                out.push_str(s);
            }
        }
        write_color(out, self.fg, 30, 90, 38);
        write_color(out, self.bg, 40, 100, 48);
    }

    /// The escape sequence that switches to this style from any other: a full reset followed
    /// by this style's attributes, so each transition is self-contained (normalised output
    /// never depends on what came before).
    pub(crate) fn write_sgr(&self, out: &mut String) {
        out.push_str("\x1b[");
        if *self != Style::default() {
            self.write_params(out);
        } else {
            out.push('0');
        }
        out.push('m');
    }
}

fn write_color(out: &mut String, c: Color, base: u8, bright: u8, ext: u8) {
    match c {
        Color::Default => {}
        Color::Idx(n) if n < 8 => param(out, base + n),
        Color::Idx(n) if n < 16 => param(out, bright + n - 8),
        Color::Idx(n) => {
            for v in [ext, 5, n] {
                param(out, v);
            }
        }
        Color::Rgb(r, g, b) => {
            for v in [ext, 2, r, g, b] {
                param(out, v);
            }
        }
    }
}

/// `;` and `v` in decimal.
fn param(out: &mut String, v: u8) {
    out.push(';');
    if v >= 100 {
        out.push(char::from(b'0' + v / 100));
    }
    if v >= 10 {
        out.push(char::from(b'0' + v / 10 % 10));
    }
    out.push(char::from(b'0' + v % 10));
}

/// A [`Style`] packed into one word, as cells and the pen keep it: comparing two is one
/// instruction. Bits 0–25 are the foreground, 26–51 the background (each a 2-bit kind,
/// default, indexed or RGB, above 24 bits of value), 52–63 the attribute bits. The default
/// style is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attrs(u64);

const BG_SHIFT: u32 = 26;
const FLAGS_SHIFT: u32 = 52;
const COLOR_MASK: u64 = (1 << 26) - 1;

fn pack_color(c: Color) -> u64 {
    match c {
        Color::Default => 0,
        Color::Idx(n) => 1 << 24 | u64::from(n),
        Color::Rgb(r, g, b) => 2 << 24 | u64::from(r) << 16 | u64::from(g) << 8 | u64::from(b),
    }
}

fn unpack_color(v: u64) -> Color {
    match v >> 24 & 3 {
        0 => Color::Default,
        1 => Color::Idx(v as u8),
        _ => Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8),
    }
}

impl From<Style> for Attrs {
    fn from(s: Style) -> Attrs {
        debug_assert!(s.flags < 1 << (64 - FLAGS_SHIFT));
        Attrs(pack_color(s.fg) | pack_color(s.bg) << BG_SHIFT | u64::from(s.flags) << FLAGS_SHIFT)
    }
}

impl Attrs {
    pub fn style(self) -> Style {
        Style {
            fg: unpack_color(self.0 & COLOR_MASK),
            bg: unpack_color(self.0 >> BG_SHIFT & COLOR_MASK),
            flags: (self.0 >> FLAGS_SHIFT) as u16,
        }
    }

    pub fn is_default(self) -> bool {
        self.0 == 0
    }

    /// [`Style::visible_when_blank`].
    pub fn visible_when_blank(self) -> bool {
        const SHOWN: u64 = ((INVERSE | UNDERLINE | STRIKE) as u64) << FLAGS_SHIFT;
        self.0 & (COLOR_MASK << BG_SHIFT | SHOWN) != 0
    }

    /// [`Style::erase_style`]: the background only.
    pub fn erase_style(self) -> Attrs {
        Attrs(self.0 & COLOR_MASK << BG_SHIFT)
    }

    /// Apply the parameters of one `CSI … m` ([`Style::apply_sgr`]).
    pub fn apply_sgr(&mut self, params: &vte::Params) {
        let mut s = self.style();
        s.apply_sgr(params);
        *self = Attrs::from(s);
    }

    /// [`Style::write_sgr`].
    pub fn write_sgr(self, out: &mut String) {
        if self.is_default() {
            out.push_str("\x1b[0m");
        } else {
            self.style().write_sgr(out);
        }
    }
}

/// Parse the colour after 38/48/58, in either the colon form (one parameter with
/// sub-parameters) or the legacy semicolon form (following parameters).
fn extended_color<'a>(p: &[u16], it: &mut impl Iterator<Item = &'a [u16]>) -> Option<Color> {
    let clamp = |v: u16| v.min(255) as u8;
    if p.len() > 1 {
        // Colon form: 38:5:n, 38:2:r:g:b or 38:2:colourspace:r:g:b.
        return match p[1] {
            5 => p.get(2).map(|&n| Color::Idx(clamp(n))),
            2 => {
                let rgb = if p.len() >= 6 { &p[3..6] } else { p.get(2..5)? };
                Some(Color::Rgb(clamp(rgb[0]), clamp(rgb[1]), clamp(rgb[2])))
            }
            _ => None,
        };
    }
    let mut next = || it.next().and_then(|v| v.first().copied());
    match next()? {
        5 => next().map(|n| Color::Idx(clamp(n))),
        2 => {
            let r = next()?;
            let g = next()?;
            let b = next()?;
            Some(Color::Rgb(clamp(r), clamp(g), clamp(b)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(seq: &[u8]) -> Style {
        struct P(Style);
        impl vte::Perform for P {
            fn csi_dispatch(&mut self, params: &vte::Params, _: &[u8], _: bool, c: char) {
                if c == 'm' {
                    self.0.apply_sgr(params)
                }
            }
        }
        let mut p = P(Style::default());
        vte::Parser::new().advance(&mut p, seq);
        p.0
    }

    fn sgr(s: Style) -> String {
        let mut out = String::new();
        s.write_sgr(&mut out);
        out
    }

    #[test]
    fn basic_attributes_round_trip() {
        assert_eq!(sgr(parse(b"\x1b[1;4;31m")), "\x1b[0;1;4;31m");
        assert_eq!(sgr(parse(b"\x1b[1;31m\x1b[22m")), "\x1b[0;31m");
        assert_eq!(sgr(parse(b"\x1b[31m\x1b[m")), "\x1b[0m");
        assert_eq!(sgr(parse(b"\x1b[95;104m")), "\x1b[0;95;104m");
    }

    #[test]
    fn extended_colours_both_forms() {
        assert_eq!(parse(b"\x1b[38;5;208m").fg, Color::Idx(208));
        assert_eq!(parse(b"\x1b[38:5:208m").fg, Color::Idx(208));
        assert_eq!(parse(b"\x1b[48;2;1;2;3m").bg, Color::Rgb(1, 2, 3));
        assert_eq!(parse(b"\x1b[48:2::1:2:3m").bg, Color::Rgb(1, 2, 3));
        assert_eq!(parse(b"\x1b[38;5;208;1m").flags, BOLD);
        assert_eq!(sgr(parse(b"\x1b[38;2;1;2;3m")), "\x1b[0;38;2;1;2;3m");
    }

    #[test]
    fn truncated_extended_colour_is_ignored() {
        assert_eq!(parse(b"\x1b[38;2;1m").fg, Color::Default);
        assert_eq!(parse(b"\x1b[38m").fg, Color::Default);
    }

    #[test]
    fn attrs_pack_every_style() {
        let colors = [
            Color::Default,
            Color::Idx(0),
            Color::Idx(7),
            Color::Idx(255),
            Color::Rgb(0, 0, 0),
            Color::Rgb(1, 2, 3),
            Color::Rgb(255, 255, 255),
        ];
        for fg in colors {
            for bg in colors {
                for flags in [0, BOLD, INVERSE | STRIKE, 0xff] {
                    let s = Style { fg, bg, flags };
                    let a = Attrs::from(s);
                    assert_eq!(a.style(), s);
                    assert_eq!(a.is_default(), s == Style::default());
                    assert_eq!(a.visible_when_blank(), s.visible_when_blank());
                    assert_eq!(a.erase_style().style(), s.erase_style());
                    let (mut x, mut y) = (String::new(), String::new());
                    a.write_sgr(&mut x);
                    s.write_sgr(&mut y);
                    assert_eq!(x, y);
                    for fg2 in colors {
                        let t = Style { fg: fg2, ..s };
                        assert_eq!(Attrs::from(t) == a, t == s);
                    }
                }
            }
        }
    }

    #[test]
    fn underline_off_subparameter() {
        assert!(!parse(b"\x1b[4m\x1b[4:0m").underline());
        assert!(parse(b"\x1b[4:3m").underline());
    }
}
