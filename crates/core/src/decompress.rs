//! Decompression of log files: gzip at libdeflate speed, with a streaming
//! fallback for what libdeflate cannot take (multi-member streams), and a size
//! limit so a hostile file cannot exhaust memory.

use std::borrow::Cow;
use std::io::Read;

use crate::cloudtrail::Problem;

/// Largest decompressed file accepted.
pub const MAX_FILE_BYTES: usize = 1 << 30;

pub fn is_gzip(raw: &[u8]) -> bool {
    raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b
}

/// Decompress gzip content into a reusable buffer (no zeroing once it has
/// grown), returning the content's length; anything not gzip is copied.
pub fn gunzip_into(
    raw: &[u8],
    buf: &mut Vec<u8>,
    d: &mut libdeflater::Decompressor,
) -> Result<usize, Problem> {
    if is_gzip(raw) && raw.len() >= 18 {
        let n = raw.len();
        let isize = u32::from_le_bytes([raw[n - 4], raw[n - 3], raw[n - 2], raw[n - 1]]) as usize;
        if isize <= MAX_FILE_BYTES {
            if buf.len() < isize.max(1) {
                buf.resize(isize.max(1), 0);
            }
            if let Ok(len) = d.gzip_decompress(raw, &mut buf[..isize.max(1)]) {
                if len == isize {
                    return Ok(len);
                }
            }
        }
    }
    let out = maybe_gunzip(raw)?;
    let len = out.len();
    if buf.len() < len {
        buf.resize(len, 0);
    }
    buf[..len].copy_from_slice(&out);
    Ok(len)
}

/// Decompress gzip content (recognised by its magic bytes); anything else is
/// returned as it is.
pub fn maybe_gunzip(raw: &[u8]) -> Result<Cow<'_, [u8]>, Problem> {
    if !is_gzip(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    if raw.len() < 18 {
        return Err(Problem {
            offset: Some(raw.len()),
            record: None,
            message: "truncated gzip stream (shorter than a gzip header and trailer)".into(),
        });
    }
    let n = raw.len();
    let isize = u32::from_le_bytes([raw[n - 4], raw[n - 3], raw[n - 2], raw[n - 1]]) as usize;
    if isize <= MAX_FILE_BYTES {
        let mut out = vec![0u8; isize.max(1)];
        let mut d = libdeflater::Decompressor::new();
        if let Ok(len) = d.gzip_decompress(raw, &mut out) {
            if len == isize {
                out.truncate(len);
                return Ok(Cow::Owned(out));
            }
        }
    }
    // Fallback: streaming, multi-member aware, bounded.
    let mut dec = flate2::read::MultiGzDecoder::new(raw).take(MAX_FILE_BYTES as u64 + 1);
    let mut out = Vec::with_capacity(isize.clamp(4096, MAX_FILE_BYTES));
    match dec.read_to_end(&mut out) {
        Ok(_) if out.len() > MAX_FILE_BYTES => Err(Problem {
            offset: None,
            record: None,
            message: format!(
                "decompressed content exceeds the {} MiB limit",
                MAX_FILE_BYTES >> 20
            ),
        }),
        Ok(_) => Ok(Cow::Owned(out)),
        Err(e) => Err(Problem {
            offset: Some(out.len()),
            record: None,
            message: format!(
                "corrupt or truncated gzip stream after {} decompressed bytes: {e}",
                out.len()
            ),
        }),
    }
}

/// The first `max` decompressed bytes of a file's head (gzip or not), for
/// telling what it holds; errors give what could be read.
pub fn head(raw: &[u8], max: usize) -> Vec<u8> {
    if !is_gzip(raw) {
        return raw[..raw.len().min(max)].to_vec();
    }
    let mut out = Vec::with_capacity(max);
    let _ = flate2::read::MultiGzDecoder::new(raw)
        .take(max as u64)
        .read_to_end(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn roundtrip_multi_member_and_truncated() {
        let a = gz(b"hello ");
        assert_eq!(&*maybe_gunzip(&a).unwrap(), b"hello ");
        let mut two = a.clone();
        two.extend(gz(b"world"));
        assert_eq!(&*maybe_gunzip(&two).unwrap(), b"hello world");
        let big = gz(&vec![b'x'; 100_000]);
        let cut = &big[..big.len() / 2];
        let e = maybe_gunzip(cut).unwrap_err();
        assert!(e.message.contains("gzip"), "{}", e.message);
        assert_eq!(&*maybe_gunzip(b"plain").unwrap(), b"plain");
    }
}
