//! Decompression of log files: gzip at libdeflate speed, with a streaming
//! fallback for what libdeflate cannot take (multi-member streams), and a size
//! limit so a hostile file cannot exhaust memory.

use std::borrow::Cow;
use std::io::Read;

use crate::cloudtrail::Problem;

/// Largest decompressed file accepted.
pub const MAX_FILE_BYTES: usize = 1 << 30;

/// Read a local file of at most [`MAX_FILE_BYTES`] (checked before reading,
/// and again while reading, for a file that grows).
pub fn read_file_bounded(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if len > MAX_FILE_BYTES as u64 {
        return Err(too_large(len));
    }
    let mut out = Vec::with_capacity(len as usize);
    f.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() > MAX_FILE_BYTES {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// The problem of a file or object over [`MAX_FILE_BYTES`].
pub fn too_large(len: u64) -> String {
    format!(
        "{len} bytes, more than the {} MiB one log file may be: not read",
        MAX_FILE_BYTES >> 20
    )
}

pub fn is_gzip(raw: &[u8]) -> bool {
    raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b
}

/// The largest ratio of a file's claimed size (its last gzip member's
/// ISIZE) to its compressed size that is trusted to size the output buffer
/// at once. CloudTrail files compress 5-20:1; a file claiming more (20
/// bytes that "hold" 1 GiB) is decompressed by the streaming path, whose
/// buffer grows with what really comes out.
const TRUSTED_RATIO: usize = 64;

/// A libdeflate decompressor that also says how much input one gzip member
/// took, so a file holding more than one member is never cut to the first
/// (libdeflate's plain call decodes the first member and ignores the rest).
pub struct Inflater {
    p: std::ptr::NonNull<libdeflate_sys::libdeflate_decompressor>,
}

// The decompressor is plain memory owned by this value, used through
// `&mut self` only.
unsafe impl Send for Inflater {}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    pub fn new() -> Self {
        // SAFETY: allocation with libdeflate's default allocator; null only
        // when out of memory.
        let p = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        Inflater {
            p: std::ptr::NonNull::new(p).expect("out of memory allocating a decompressor"),
        }
    }

    /// Decode the first gzip member of `raw` into `out`: (input bytes
    /// taken, output bytes written), or `None` for bad data or too little room.
    pub fn gzip_member(&mut self, raw: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
        let (mut taken, mut written) = (0usize, 0usize);
        // SAFETY: the pointers and lengths are those of live slices; the
        // decompressor is ours (see `new`).
        let ret = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.p.as_ptr(),
                raw.as_ptr().cast(),
                raw.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut taken,
                &mut written,
            )
        };
        (ret == libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS).then_some((taken, written))
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by `libdeflate_alloc_decompressor`, freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.p.as_ptr()) }
    }
}

/// The size a gzip file claims (its last member's ISIZE), when it is worth
/// trusting for one allocation (see [`TRUSTED_RATIO`]).
fn trusted_isize(raw: &[u8]) -> Option<usize> {
    let n = raw.len();
    let isize = u32::from_le_bytes([raw[n - 4], raw[n - 3], raw[n - 2], raw[n - 1]]) as usize;
    (isize <= MAX_FILE_BYTES && isize <= n.saturating_mul(TRUSTED_RATIO)).then_some(isize)
}

/// Decompress gzip content into a reusable buffer (no zeroing once it has
/// grown), returning the content's length; anything not gzip is copied.
/// A single-member file is decoded at libdeflate speed; several members, a
/// size claim out of proportion, or anything odd take the streaming path.
pub fn gunzip_into(raw: &[u8], buf: &mut Vec<u8>, d: &mut Inflater) -> Result<usize, Problem> {
    if is_gzip(raw) && raw.len() >= 18 {
        if let Some(isize) = trusted_isize(raw) {
            if buf.len() < isize.max(1) {
                buf.resize(isize.max(1), 0);
            }
            if let Some((taken, len)) = d.gzip_member(raw, &mut buf[..isize.max(1)]) {
                if taken == raw.len() && len == isize {
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
    let claimed = trusted_isize(raw);
    if let Some(isize) = claimed {
        let mut out = vec![0u8; isize.max(1)];
        let mut d = Inflater::new();
        if let Some((taken, len)) = d.gzip_member(raw, &mut out) {
            if taken == raw.len() && len == isize {
                out.truncate(len);
                return Ok(Cow::Owned(out));
            }
        }
    }
    // Fallback: streaming, multi-member aware, bounded, its buffer grown by
    // what comes out (the claimed size is not trusted beyond the ratio).
    let mut dec = flate2::read::MultiGzDecoder::new(raw).take(MAX_FILE_BYTES as u64 + 1);
    let mut out = Vec::with_capacity(claimed.unwrap_or(0).clamp(4096, 64 << 20));
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

    /// Members of the same size as the last one: libdeflate's plain call
    /// stopped after the first, and its size matched the trailer.
    #[test]
    fn every_member_is_read_even_when_sizes_match() {
        let parts: [&[u8]; 3] = [b"first  \n", b"hidden!\n", b"decoy  \n"];
        let mut file = vec![];
        for p in parts {
            file.extend(gz(p));
        }
        let want: Vec<u8> = parts.concat();
        assert_eq!(&*maybe_gunzip(&file).unwrap(), &want[..]);
        let mut buf = vec![];
        let mut d = Inflater::new();
        let n = gunzip_into(&file, &mut buf, &mut d).unwrap();
        assert_eq!(&buf[..n], &want[..]);
        // One member: the fast path, same bytes.
        let one = gz(&want);
        let n = gunzip_into(&one, &mut buf, &mut d).unwrap();
        assert_eq!(&buf[..n], &want[..]);
    }

    /// A tiny file claiming a huge size does not get a buffer of that size.
    #[test]
    fn a_claimed_size_out_of_proportion_is_not_allocated() {
        let mut file = gz(b"");
        let n = file.len();
        file[n - 4..].copy_from_slice(&(1u32 << 30).to_le_bytes());
        let mut buf = vec![];
        let mut d = Inflater::new();
        // The trailer lies (ISIZE), so the stream is bad: an error, not 1 GiB.
        assert!(gunzip_into(&file, &mut buf, &mut d).is_err());
        assert!(buf.capacity() < 1 << 20, "{}", buf.capacity());
    }
}
