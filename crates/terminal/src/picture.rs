//! What an image a program sends really is: its MIME type from its first bytes (never from a
//! name or a claim in the sequence) and its size in pixels from its header, so a cell shows
//! only PNG, JPEG and GIF, of a bounded size. Pure: bytes in, facts or a refusal out.

/// Decoded bytes of one image (or one `displayHTML`) at most. 8 MiB: a screenshot or a plot
/// is well under it, and its base64 (about 11 MiB) is what one output may cost a notebook.
pub const MAX_BYTES: usize = 8 << 20;
/// Pixels of one image at most (its header's width × height). 50 megapixels: an 8-bit RGBA
/// picture of that size takes 200 MB once a browser decodes it, which a page survives; a
/// 64k × 64k PNG of a few KiB (a decompression bomb) does not.
pub const MAX_PIXELS: u64 = 50_000_000;

/// An image fit to show: its type, its size in pixels, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Why an image, an HTML frame or an escape sequence carrying one is not shown. Each is said
/// in the cell as one line (`Display`), in place of what was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("an image of type {kind} was not shown: only PNG, JPEG and GIF are")]
    Unsupported { kind: &'static str },
    #[error("an image was not shown: its {mime} header is cut or malformed")]
    Malformed { mime: &'static str },
    #[error("an image of {width}×{height} pixels was not shown: the limit is {MAX_PIXELS} pixels")]
    TooManyPixels { width: u32, height: u32 },
    #[error(
        "an image or HTML output of {bytes} bytes or more was not shown: the limit is {MAX_BYTES} bytes"
    )]
    TooLarge { bytes: usize },
    #[error("an empty image or HTML output was not shown")]
    Empty,
    #[error(
        "a file download ({name}) sent by a program (iTerm2's inline=0) was not written anywhere: sshpty shows inline images only"
    )]
    Download { name: String },
    #[error("an inline image or display frame was not shown: its base64 is malformed")]
    BadBase64,
    #[error("an inline image or display frame was not shown: the escape sequence is malformed")]
    BadSequence,
    #[error("an inline image or display frame was cut off (the output ended inside it)")]
    Cut,
}

/// The image in `data`, if it is a PNG, JPEG or GIF within the limits.
pub fn examine(data: Vec<u8>) -> Result<Picture, Refusal> {
    if data.is_empty() {
        return Err(Refusal::Empty);
    }
    if data.len() > MAX_BYTES {
        return Err(Refusal::TooLarge { bytes: data.len() });
    }
    let (mime, dims) = if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        ("image/png", png_size(&data))
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        ("image/gif", gif_size(&data))
    } else if data.starts_with(b"\xff\xd8\xff") {
        ("image/jpeg", jpeg_size(&data))
    } else {
        return Err(Refusal::Unsupported {
            kind: other_kind(&data),
        });
    };
    let Some((width, height)) = dims.filter(|&(w, h)| w > 0 && h > 0) else {
        return Err(Refusal::Malformed { mime });
    };
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(Refusal::TooManyPixels { width, height });
    }
    Ok(Picture {
        mime,
        width,
        height,
        data,
    })
}

/// A name for what a refused image is, for the error line.
fn other_kind(data: &[u8]) -> &'static str {
    let head = &data[..data.len().min(512)];
    let has = |needle: &[u8]| {
        head.windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
    };
    if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        "WebP"
    } else if has(b"<svg") {
        "SVG"
    } else if data.starts_with(b"BM") {
        "BMP"
    } else if data.len() >= 12 && &data[4..8] == b"ftyp" {
        "AVIF/HEIF"
    } else if data.starts_with(b"%PDF") {
        "PDF"
    } else if has(b"<html") || has(b"<!doctype") {
        "HTML"
    } else {
        "unknown"
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// PNG (RFC 2083 §3.2, §4.1.1): the first chunk is IHDR, width and height big-endian.
fn png_size(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be32(b, 16)?, be32(b, 20)?))
}

/// GIF (GIF89a §18): the logical screen's width and height, little-endian, after the magic.
fn gif_size(b: &[u8]) -> Option<(u32, u32)> {
    Some((u32::from(le16(b, 6)?), u32::from(le16(b, 8)?)))
}

/// JPEG (ITU T.81 §B.1): segments from SOI on, each `FF marker length…`, until a start of
/// frame (SOF0–SOF15 but DHT C4, JPG C8, DAC CC), which holds height then width.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        // Fill bytes (FF) may precede a marker.
        while *b.get(at)? == 0xff && *b.get(at + 1)? == 0xff {
            at += 1;
        }
        if *b.get(at)? != 0xff {
            return None;
        }
        let marker = *b.get(at + 1)?;
        at += 2;
        match marker {
            // Markers without a length (RSTn, TEM).
            0xd0..=0xd7 | 0x01 => continue,
            // End of image or start of scan before any frame: no size.
            0xd9 | 0xda => return None,
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                let height = be16(b, at + 3)?;
                let width = be16(b, at + 5)?;
                return Some((u32::from(width), u32::from(height)));
            }
            _ => {
                let len = usize::from(be16(b, at)?);
                if len < 2 {
                    return None;
                }
                at += len;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PNG header (signature and IHDR) of `w` × `h`: all the sniffing reads.
    pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend(b"\x08\x06\0\0\0");
        b.extend([0u8; 4]);
        b
    }

    fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut b =
            b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
        b.extend(b"\xff\xff\xc2\x00\x11\x08");
        b.extend(h.to_be_bytes());
        b.extend(w.to_be_bytes());
        b.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        b
    }

    #[test]
    fn png_gif_and_jpeg_are_sniffed_with_their_size() {
        let p = examine(png(3, 2)).expect("a PNG");
        assert_eq!((p.mime, p.width, p.height), ("image/png", 3, 2));
        let g = examine(b"GIF89a\x0a\x00\x05\x00\x80\x00\x00".to_vec()).expect("a GIF");
        assert_eq!((g.mime, g.width, g.height), ("image/gif", 10, 5));
        let j = examine(jpeg(640, 480)).expect("a JPEG");
        assert_eq!((j.mime, j.width, j.height), ("image/jpeg", 640, 480));
    }

    #[test]
    fn other_types_are_refused_by_their_content_not_a_name() {
        let webp = b"RIFF\x10\0\0\0WEBPVP8 ".to_vec();
        assert_eq!(examine(webp), Err(Refusal::Unsupported { kind: "WebP" }));
        let svg = b"<?xml version='1.0'?><svg onload='alert(1)'/>".to_vec();
        assert_eq!(examine(svg), Err(Refusal::Unsupported { kind: "SVG" }));
        assert_eq!(
            examine(b"hello".to_vec()),
            Err(Refusal::Unsupported { kind: "unknown" })
        );
        assert_eq!(examine(Vec::new()), Err(Refusal::Empty));
    }

    #[test]
    fn headers_cut_short_or_without_a_size_are_malformed() {
        let mut p = png(3, 2);
        p.truncate(18);
        assert_eq!(examine(p), Err(Refusal::Malformed { mime: "image/png" }));
        assert_eq!(
            examine(png(0, 5)),
            Err(Refusal::Malformed { mime: "image/png" })
        );
        assert_eq!(
            examine(b"\xff\xd8\xff\xd9".to_vec()),
            Err(Refusal::Malformed { mime: "image/jpeg" })
        );
        // A segment length pointing nowhere.
        assert_eq!(
            examine(b"\xff\xd8\xff\xe0\xff\xff".to_vec()),
            Err(Refusal::Malformed { mime: "image/jpeg" })
        );
    }

    #[test]
    fn pixels_and_bytes_are_bounded() {
        assert_eq!(
            examine(png(65535, 65535)),
            Err(Refusal::TooManyPixels {
                width: 65535,
                height: 65535
            })
        );
        assert!(examine(png(10_000, 5_000)).is_ok());
        let mut big = png(10, 10);
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(
            examine(big),
            Err(Refusal::TooLarge {
                bytes: MAX_BYTES + 1
            })
        );
    }
}
