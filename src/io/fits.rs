//! A thin, panic-free wrapper over the CFITSIO calls this crate needs: logical columns,
//! long-string cards, literal file names (no extended syntax), and errors instead of panics.

use crate::io::columns::{ColumnData, ColumnKind, ColumnSpec};
use crate::io::header_card::{CardValue, HeaderCard};
use crate::{Error, Result};
use fitsio::sys;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr;

/// CFITSIO status: tried to read past the end of the file.
pub(crate) const END_OF_FILE: c_int = sys::END_OF_FILE as c_int;
/// CFITSIO status: a read from the file failed (a file shorter than its blocks).
const READ_ERROR: c_int = sys::READ_ERROR as c_int;
/// CFITSIO status: a value did not fit the requested type.
pub(crate) const NUM_OVERFLOW: c_int = sys::NUM_OVERFLOW as c_int;
/// CFITSIO HDU type: image.
pub(crate) const IMAGE_HDU: c_int = sys::IMAGE_HDU as c_int;
/// CFITSIO HDU type: ASCII table.
pub(crate) const ASCII_TBL: c_int = sys::ASCII_TBL as c_int;
/// CFITSIO HDU type: binary table.
pub(crate) const BINARY_TBL: c_int = sys::BINARY_TBL as c_int;

const BAD_HDU_NUM: c_int = sys::BAD_HDU_NUM as c_int;
const TBYTE: c_int = sys::TBYTE as c_int;
const TSBYTE: c_int = sys::TSBYTE as c_int;
const TLOGICAL: c_int = sys::TLOGICAL as c_int;
const TSTRING: c_int = sys::TSTRING as c_int;
const TUSHORT: c_int = sys::TUSHORT as c_int;
const TSHORT: c_int = sys::TSHORT as c_int;
const TUINT: c_int = sys::TUINT as c_int;
const TINT: c_int = sys::TINT as c_int;
const TULONG: c_int = sys::TULONG as c_int;
const TLONG: c_int = sys::TLONG as c_int;
const TFLOAT: c_int = sys::TFLOAT as c_int;
const TULONGLONG: c_int = sys::TULONGLONG as c_int;
const TLONGLONG: c_int = sys::TLONGLONG as c_int;
const TDOUBLE: c_int = sys::TDOUBLE as c_int;

/// Rows read per CFITSIO call when reading string columns.
const STRING_CHUNK: usize = 65_536;

/// CFITSIO's short description of a status code, with the code.
pub(crate) fn status_text(status: c_int) -> String {
    let mut buf = [0 as c_char; 96];
    // SAFETY: ffgerr writes at most FLEN_STATUS (31) bytes, NUL-terminated.
    unsafe { sys::ffgerr(status, buf.as_mut_ptr()) };
    // SAFETY: the buffer is NUL-terminated (zero-initialised, larger than needed).
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy();
    format!("{} (CFITSIO status {status})", text.trim())
}

fn c_path(path: &Path) -> Result<CString> {
    let s = path.to_str().ok_or_else(|| {
        Error::file(
            path,
            "the path is not valid UTF-8, which CFITSIO cannot open",
        )
    })?;
    CString::new(s).map_err(|_| Error::file(path, "the path contains a NUL character"))
}

fn c_text(path: &Path, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::Invalid(format!(
            "{}: text '{}' contains a NUL character",
            path.display(),
            s.escape_debug()
        ))
    })
}

fn buf_to_string(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The characters of one cell of a string column (`rA`, or `rAw` with `0 < w <= r`), 0 for a
/// column of no characters (`0A`). A width of 0 or over `r` is refused: CFITSIO divides by it
/// (a SIGFPE) or reads past the buffer sized by it; `r` itself lies within the row, whose
/// size `Fits::open` checked against the file's.
fn string_width(info: &ColumnInfo) -> std::result::Result<usize, String> {
    if info.repeat <= 0 {
        return Ok(0);
    }
    if info.width <= 0 || info.width > info.repeat {
        return Err(format!(
            "string column '{}' has {} characters in strings of {}: not a valid TFORM",
            info.name, info.repeat, info.width
        ));
    }
    Ok(usize::try_from(info.repeat).unwrap_or(usize::MAX))
}

/// Name, equivalent type and layout of a table column.
#[derive(Debug, Clone)]
pub(crate) struct ColumnInfo {
    pub(crate) colnum: usize,
    pub(crate) name: String,
    pub(crate) typecode: c_int,
    pub(crate) repeat: i64,
    pub(crate) width: i64,
}

/// An open FITS file. Closed on drop (errors then ignored); use [`Fits::close`] to see them.
pub(crate) struct Fits {
    ptr: *mut sys::fitsfile,
    path: PathBuf,
}

// SAFETY: CFITSIO is built reentrant (fitsio-src enables it); one handle is only ever used
// by one thread at a time (Fits is not Sync and methods take &mut self).
unsafe impl Send for Fits {}

impl Fits {
    /// Opens an existing file read-only. The name is taken literally (no CFITSIO extended
    /// syntax); gzip-compressed files are decompressed transparently.
    pub(crate) fn open(path: &Path) -> Result<Fits> {
        Fits::open_mode(path, 0)
    }

    /// Opens an existing, uncompressed file for reading and writing (as [`Fits::open`]).
    pub(crate) fn open_rw(path: &Path) -> Result<Fits> {
        Fits::open_mode(path, 1)
    }

    /// Opens a file read-only (`mode` 0) or read-write (1).
    fn open_mode(path: &Path, mode: c_int) -> Result<Fits> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::file(path, "is a directory, not a FITS file"));
        }
        if meta.len() == 0 {
            return Err(Error::file(path, "the file is empty, not a FITS file"));
        }
        crate::io::fits_guard::check_headers(path)?;
        let cpath = c_path(path)?;
        let mut fptr: *mut sys::fitsfile = ptr::null_mut();
        let mut status = 0;
        // SAFETY: valid NUL-terminated name and out-pointers.
        unsafe { sys::ffdkopn(&mut fptr, cpath.as_ptr(), mode, &mut status) };
        if status != 0 || fptr.is_null() {
            if !fptr.is_null() {
                let mut s = 0;
                // SAFETY: fptr came from ffdkopn.
                unsafe { sys::ffclos(fptr, &mut s) };
            }
            let what = if status == END_OF_FILE || status == READ_ERROR {
                "the file is truncated or unreadable"
            } else {
                "not a readable FITS file"
            };
            return Err(Error::file(
                path,
                format!("{what}: {}", status_text(status)),
            ));
        }
        Ok(Fits {
            ptr: fptr,
            path: path.to_path_buf(),
        })
    }

    /// Creates a new, empty file (the path must not exist).
    pub(crate) fn create(path: &Path) -> Result<Fits> {
        let cpath = c_path(path)?;
        let mut fptr: *mut sys::fitsfile = ptr::null_mut();
        let mut status = 0;
        // SAFETY: valid NUL-terminated name and out-pointers.
        unsafe { sys::ffdkinit(&mut fptr, cpath.as_ptr(), &mut status) };
        if status != 0 || fptr.is_null() {
            if !fptr.is_null() {
                let mut s = 0;
                // SAFETY: fptr came from ffdkinit.
                unsafe { sys::ffclos(fptr, &mut s) };
            }
            return Err(Error::file(
                path,
                format!("cannot create the FITS file: {}", status_text(status)),
            ));
        }
        Ok(Fits {
            ptr: fptr,
            path: path.to_path_buf(),
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// An error about this file: `what` and CFITSIO's description of `status`.
    pub(crate) fn error(&self, status: c_int, what: &str) -> Error {
        Error::file(&self.path, format!("{what}: {}", status_text(status)))
    }

    fn check(&self, status: c_int, what: impl FnOnce() -> String) -> Result<()> {
        if status == 0 {
            Ok(())
        } else {
            Err(self.error(status, &what()))
        }
    }

    /// Moves to HDU `hdu` (1-based: 1 is the primary); returns its type or the status.
    pub(crate) fn try_move_to_hdu(&mut self, hdu: usize) -> std::result::Result<c_int, c_int> {
        let num = c_int::try_from(hdu).map_err(|_| BAD_HDU_NUM)?;
        let mut hdutype = 0;
        let mut status = 0;
        // SAFETY: open handle, valid out-pointers.
        unsafe { sys::ffmahd(self.ptr, num, &mut hdutype, &mut status) };
        if status == 0 {
            Ok(hdutype)
        } else {
            Err(status)
        }
    }

    /// Moves to HDU `hdu` (1-based), an error naming the HDU if it cannot.
    pub(crate) fn move_to_hdu(&mut self, hdu: usize) -> Result<c_int> {
        self.try_move_to_hdu(hdu)
            .map_err(|s| self.error(s, &format!("cannot read HDU {}", hdu.saturating_sub(1))))
    }

    /// Moves to the HDU whose `EXTNAME` (or `HDUNAME`) is `name`, ignoring case; returns its
    /// type, or `None` when there is none.
    pub(crate) fn move_to_named(&mut self, name: &str) -> Result<Option<c_int>> {
        let cname = c_text(&self.path, name)?;
        let mut status = 0;
        // SAFETY: open handle; CFITSIO only reads the name despite the *mut.
        unsafe {
            sys::ffmnhd(
                self.ptr,
                sys::ANY_HDU,
                cname.as_ptr() as *mut c_char,
                0,
                &mut status,
            )
        };
        if status == BAD_HDU_NUM {
            return Ok(None);
        }
        self.check(status, || format!("cannot look for HDU '{name}'"))?;
        let hdu = self.current_hdu();
        self.move_to_hdu(hdu).map(Some)
    }

    /// The current HDU's number (1-based: 1 is the primary).
    pub(crate) fn current_hdu(&mut self) -> usize {
        let mut hdunum = 0;
        // SAFETY: open handle.
        unsafe { sys::ffghdn(self.ptr, &mut hdunum) };
        usize::try_from(hdunum).unwrap_or(1).max(1)
    }

    /// Byte offsets of the current HDU: header start, data start, data end (with padding).
    pub(crate) fn hdu_extent(&mut self) -> Result<(i64, i64, i64)> {
        let (mut head, mut data, mut end) = (0, 0, 0);
        let mut status = 0;
        // SAFETY: open handle, valid out-pointers.
        unsafe { sys::ffghadll(self.ptr, &mut head, &mut data, &mut end, &mut status) };
        self.check(status, || "cannot locate an HDU".into())?;
        Ok((head, data, end))
    }

    /// Whether byte `pos` of the file exists: 0 when its 2880-byte record can be read,
    /// END_OF_FILE when the file ends before it, another status (a partial record, a read
    /// error) otherwise.
    pub(crate) fn probe_byte(&mut self, pos: i64) -> c_int {
        let mut status = 0;
        // SAFETY: open handle; ffmbyt only loads the record holding `pos`.
        unsafe { sys::ffmbyt(self.ptr, pos, 0, &mut status) };
        status
    }

    /// The 8 bytes at byte `pos` of the file, if its record can be read.
    pub(crate) fn bytes_at(&mut self, pos: i64) -> Option<[u8; 8]> {
        let (_, data_start, _) = self.hdu_extent().ok()?;
        let mut buf = [0u8; 8];
        let mut status = 0;
        // SAFETY: buf holds 8 bytes; ffgextn reads relative to the current data start.
        unsafe {
            sys::ffgextn(
                self.ptr,
                pos - data_start,
                8,
                buf.as_mut_ptr().cast(),
                &mut status,
            )
        };
        (status == 0).then_some(buf)
    }

    /// BITPIX and axis lengths (NAXIS1 first) of the current image HDU.
    pub(crate) fn image_shape(&mut self) -> Result<(c_int, Vec<i64>)> {
        let mut naxes = [0i64; 9];
        let (mut bitpix, mut naxis) = (0, 0);
        let mut status = 0;
        // SAFETY: naxes has room for maxaxis (9) values.
        unsafe {
            sys::ffgiprll(
                self.ptr,
                9,
                &mut bitpix,
                &mut naxis,
                naxes.as_mut_ptr(),
                &mut status,
            )
        };
        self.check(status, || "cannot read the image dimensions".into())?;
        // CFITSIO's pixel readers take one coordinate per axis of the image: `Fits::open`
        // refused images of more axes than these 9 (`fits_stream::MAX_AXES`).
        let naxis = usize::try_from(naxis).unwrap_or(0).min(naxes.len());
        Ok((bitpix, naxes[..naxis].to_vec()))
    }

    fn read_pixels(
        &mut self,
        datatype: c_int,
        first: &[i64],
        n: usize,
        out: *mut c_void,
    ) -> std::result::Result<(), c_int> {
        let mut first = first.to_vec();
        let mut anynul = 0;
        let mut status = 0;
        let n = i64::try_from(n).map_err(|_| NUM_OVERFLOW)?;
        // SAFETY: `out` has room for n values of `datatype` (callers pass a slice of that
        // length and type); `first` holds one coordinate per image axis.
        unsafe {
            sys::ffgpxvll(
                self.ptr,
                datatype,
                first.as_mut_ptr(),
                n,
                ptr::null_mut(),
                out,
                &mut anynul,
                &mut status,
            )
        };
        if status == 0 {
            Ok(())
        } else {
            Err(status)
        }
    }

    /// Reads `out.len()` pixels of the current image as f64 (BSCALE/BZERO applied),
    /// starting at the 1-based pixel coordinates `first`; Err is the CFITSIO status.
    pub(crate) fn read_pixels_f64(
        &mut self,
        first: &[i64],
        out: &mut [f64],
    ) -> std::result::Result<(), c_int> {
        self.read_pixels(TDOUBLE, first, out.len(), out.as_mut_ptr().cast())
    }

    /// Reads `out.len()` pixels of the current image as i64 (BSCALE/BZERO applied).
    pub(crate) fn read_pixels_i64(
        &mut self,
        first: &[i64],
        out: &mut [i64],
    ) -> std::result::Result<(), c_int> {
        self.read_pixels(TLONGLONG, first, out.len(), out.as_mut_ptr().cast())
    }

    /// Writes f64 pixels into the current image starting at 1-based coordinates `first`.
    pub(crate) fn write_pixels_f64(&mut self, first: &[i64], data: &[f64]) -> Result<()> {
        let mut first = first.to_vec();
        let mut status = 0;
        let n = i64::try_from(data.len()).unwrap_or(i64::MAX);
        // SAFETY: data holds n f64 values; CFITSIO does not modify the input array.
        unsafe {
            sys::ffppxll(
                self.ptr,
                TDOUBLE,
                first.as_mut_ptr(),
                n,
                data.as_ptr() as *mut c_void,
                &mut status,
            )
        };
        self.check(status, || "cannot write image pixels".into())
    }

    /// Creates a primary HDU without data.
    pub(crate) fn create_empty_primary(&mut self) -> Result<()> {
        self.create_image(8, &[])
    }

    /// Appends an image HDU with `bitpix` and axis lengths `naxes` (NAXIS1 first).
    pub(crate) fn create_image(&mut self, bitpix: c_int, naxes: &[i64]) -> Result<()> {
        let mut axes = naxes.to_vec();
        let naxis = c_int::try_from(axes.len()).unwrap_or(0);
        let mut status = 0;
        // SAFETY: axes holds naxis values.
        unsafe { sys::ffcrimll(self.ptr, bitpix, naxis, axes.as_mut_ptr(), &mut status) };
        self.check(status, || "cannot create an image HDU".into())
    }

    /// Writes a string key into the current header (`EXTNAME`, for example).
    pub(crate) fn write_key_str(&mut self, key: &str, value: &str, comment: &str) -> Result<()> {
        self.write_card(&HeaderCard::new(key, CardValue::Str(value.into()), comment))
    }

    /// A string key of the current header (long strings joined); `None` when absent. A
    /// non-string value is returned as written.
    pub(crate) fn read_key_string(&mut self, key: &str) -> Option<String> {
        let ckey = CString::new(key).ok()?;
        let mut value: *mut c_char = ptr::null_mut();
        let mut status = 0;
        // SAFETY: open handle; ffgkls allocates `value`, freed below with fffree.
        unsafe {
            sys::ffgkls(
                self.ptr,
                ckey.as_ptr(),
                &mut value,
                ptr::null_mut(),
                &mut status,
            )
        };
        let text = if value.is_null() {
            None
        } else {
            // SAFETY: CFITSIO returns a NUL-terminated string.
            let s = unsafe { CStr::from_ptr(value) }
                .to_string_lossy()
                .into_owned();
            let mut s2 = 0;
            // SAFETY: value was allocated by CFITSIO.
            unsafe { sys::fffree(value.cast(), &mut s2) };
            Some(s)
        };
        if status == 0 {
            text
        } else {
            None
        }
    }

    /// Writes a header card into the current HDU (see [`HeaderCard`]).
    pub(crate) fn write_card(&mut self, card: &HeaderCard) -> Result<()> {
        let key = card.key.trim();
        if key.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: a header card has an empty keyword",
                self.path.display()
            )));
        }
        let ckey = c_text(&self.path, key)?;
        let ccomment = c_text(&self.path, &card.comment)?;
        let mut status = 0;
        let upper = key.to_ascii_uppercase();
        if upper == "COMMENT" || upper == "HISTORY" {
            let ctext = c_text(&self.path, &card.value.text())?;
            // SAFETY: open handle, NUL-terminated text.
            unsafe {
                if upper == "COMMENT" {
                    sys::ffpcom(self.ptr, ctext.as_ptr(), &mut status)
                } else {
                    sys::ffphis(self.ptr, ctext.as_ptr(), &mut status)
                }
            };
            return self.check(status, || format!("cannot write {upper} card"));
        }
        match &card.value {
            CardValue::Str(s) => {
                let cvalue = c_text(&self.path, s)?;
                // SAFETY: open handle, NUL-terminated strings.
                unsafe {
                    sys::ffpkls(
                        self.ptr,
                        ckey.as_ptr(),
                        cvalue.as_ptr(),
                        ccomment.as_ptr(),
                        &mut status,
                    )
                };
                if s.len() > 68 {
                    // Announce the CONTINUE convention once (LONGSTRN), as CFITSIO advises.
                    // SAFETY: open handle.
                    unsafe { sys::ffplsw(self.ptr, &mut status) };
                }
            }
            CardValue::F64(v) if v.is_finite() => {
                let decimals = shortest_digits(*v);
                // SAFETY: open handle, NUL-terminated strings.
                unsafe {
                    sys::ffpkyd(
                        self.ptr,
                        ckey.as_ptr(),
                        *v,
                        -decimals,
                        ccomment.as_ptr(),
                        &mut status,
                    )
                };
            }
            CardValue::F64(_) => {
                // SAFETY: open handle, NUL-terminated strings.
                unsafe { sys::ffpkyu(self.ptr, ckey.as_ptr(), ccomment.as_ptr(), &mut status) };
            }
            CardValue::I64(v) => {
                // SAFETY: open handle, NUL-terminated strings.
                unsafe { sys::ffpkyj(self.ptr, ckey.as_ptr(), *v, ccomment.as_ptr(), &mut status) };
            }
            CardValue::Bool(v) => {
                // SAFETY: open handle, NUL-terminated strings.
                unsafe {
                    sys::ffpkyl(
                        self.ptr,
                        ckey.as_ptr(),
                        c_int::from(*v),
                        ccomment.as_ptr(),
                        &mut status,
                    )
                };
            }
        }
        self.check(status, || format!("cannot write header card {key}"))
    }

    /// The raw 80-character records of the current header, without `END`.
    pub(crate) fn records(&mut self) -> Result<Vec<String>> {
        let (mut nkeys, mut more) = (0, 0);
        let mut status = 0;
        // SAFETY: open handle, valid out-pointers.
        unsafe { sys::ffghsp(self.ptr, &mut nkeys, &mut more, &mut status) };
        self.check(status, || "cannot read the header".into())?;
        let mut out = Vec::with_capacity(usize::try_from(nkeys).unwrap_or(0));
        for n in 1..=nkeys {
            let mut card = [0 as c_char; 96];
            // SAFETY: card has room for FLEN_CARD (81) bytes.
            unsafe { sys::ffgrec(self.ptr, n, card.as_mut_ptr(), &mut status) };
            self.check(status, || format!("cannot read header record {n}"))?;
            out.push(buf_to_string(&card));
        }
        Ok(out)
    }

    /// Appends a binary table HDU named `name` with `columns` and no rows.
    pub(crate) fn create_bintable(&mut self, name: &str, columns: &[ColumnSpec]) -> Result<()> {
        let path = self.path.clone();
        let ttype: Vec<CString> = columns
            .iter()
            .map(|c| c_text(&path, &c.name))
            .collect::<Result<_>>()?;
        let tform: Vec<CString> = columns
            .iter()
            .map(|c| c_text(&path, &c.kind.tform()))
            .collect::<Result<_>>()?;
        let tunit: Vec<CString> = columns
            .iter()
            .map(|c| c_text(&path, c.unit.as_deref().unwrap_or("")))
            .collect::<Result<_>>()?;
        let mut ttype_p: Vec<*mut c_char> =
            ttype.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        let mut tform_p: Vec<*mut c_char> =
            tform.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        let mut tunit_p: Vec<*mut c_char> =
            tunit.iter().map(|s| s.as_ptr() as *mut c_char).collect();
        let cname = c_text(&path, name)?;
        let ncols = c_int::try_from(columns.len())
            .map_err(|_| Error::Invalid(format!("{}: too many columns", path.display())))?;
        let mut status = 0;
        let (tt, tf, tu) = if columns.is_empty() {
            (ptr::null_mut(), ptr::null_mut(), ptr::null_mut())
        } else {
            (
                ttype_p.as_mut_ptr(),
                tform_p.as_mut_ptr(),
                tunit_p.as_mut_ptr(),
            )
        };
        // SAFETY: the pointer arrays hold ncols NUL-terminated strings that outlive the
        // call; CFITSIO only reads them.
        unsafe {
            sys::ffcrtb(
                self.ptr,
                BINARY_TBL,
                0,
                ncols,
                tt,
                tf,
                tu,
                cname.as_ptr(),
                &mut status,
            )
        };
        self.check(status, || format!("cannot create table HDU '{name}'"))?;
        for (i, spec) in columns.iter().enumerate() {
            if let Some(tdim) = spec.kind.tdim() {
                self.write_key_str(&format!("TDIM{}", i + 1), &tdim, "")?;
            }
            if let Some(desc) = spec.description.as_deref().filter(|d| !d.is_empty()) {
                let key = c_text(&path, &format!("TTYPE{}", i + 1))?;
                let cdesc = c_text(&path, desc)?;
                // SAFETY: open handle, NUL-terminated strings.
                unsafe { sys::ffmcom(self.ptr, key.as_ptr(), cdesc.as_ptr(), &mut status) };
                self.check(status, || {
                    format!("cannot write the description of column '{}'", spec.name)
                })?;
            }
        }
        Ok(())
    }

    /// Writes a batch of rows into the current binary table from row `first_row`
    /// (1-based) on, extending the table when it is the last HDU. `batch` must already be
    /// checked against `columns` ([`crate::io::columns::check_batch`]). Rows are packed into FITS's
    /// big-endian row layout and written in large blocks, which is much faster than
    /// column-by-column writes for wide tables (each would revisit every row).
    pub(crate) fn write_rows(
        &mut self,
        first_row: usize,
        columns: &[ColumnSpec],
        batch: &[ColumnData],
    ) -> Result<()> {
        let n = batch.first().map_or(0, ColumnData::len);
        if batch.len() != columns.len() || batch.iter().any(|c| c.len() != n) {
            return Err(Error::Invalid(format!(
                "{}: a batch of table rows has columns of unequal lengths",
                self.path.display()
            )));
        }
        let row_len: usize = columns.iter().map(|c| c.kind.byte_width()).sum();
        if n == 0 || row_len == 0 {
            return Ok(());
        }
        let rows_per_block = (BLOCK_BYTES / row_len).max(1);
        let mut buf = Vec::with_capacity(rows_per_block.min(n) * row_len);
        let mut start = 0;
        while start < n {
            let end = (start + rows_per_block).min(n);
            buf.clear();
            for r in start..end {
                for (data, spec) in batch.iter().zip(columns) {
                    encode_cell(&mut buf, data, r, spec.kind);
                }
            }
            let mut status = 0;
            let first = i64::try_from(first_row + start).unwrap_or(i64::MAX);
            let nbytes = i64::try_from(buf.len()).unwrap_or(i64::MAX);
            // SAFETY: buf holds nbytes bytes; CFITSIO only reads them.
            unsafe { sys::ffptbb(self.ptr, first, 1, nbytes, buf.as_mut_ptr(), &mut status) };
            self.check(status, || {
                format!(
                    "cannot write table rows {}..{}",
                    first_row + start,
                    first_row + end - 1
                )
            })?;
            start = end;
        }
        Ok(())
    }

    /// Columns and rows of the current table HDU (their sizes within the file: `Fits::open`
    /// checked every header against its length).
    pub(crate) fn table_shape(&mut self) -> Result<(usize, usize)> {
        let mut ncols = 0;
        let mut nrows: i64 = 0;
        let mut status = 0;
        // SAFETY: open handle, valid out-pointers.
        unsafe {
            sys::ffgncl(self.ptr, &mut ncols, &mut status);
            sys::ffgnrwll(self.ptr, &mut nrows, &mut status);
        }
        self.check(status, || "cannot read the table dimensions".into())?;
        Ok((
            usize::try_from(ncols).unwrap_or(0),
            usize::try_from(nrows).unwrap_or(0),
        ))
    }

    /// Name (`TTYPEn`, or `col<n>` when absent), equivalent type and layout of a column.
    pub(crate) fn column_info(&mut self, colnum: usize) -> Result<ColumnInfo> {
        let name = self
            .read_key_string(&format!("TTYPE{colnum}"))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("col{colnum}"));
        let col = c_int::try_from(colnum).unwrap_or(c_int::MAX);
        let (mut typecode, mut repeat, mut width) = (0, 0i64, 0i64);
        let mut status = 0;
        // SAFETY: open handle, valid out-pointers.
        unsafe {
            sys::ffeqtyll(
                self.ptr,
                col,
                &mut typecode,
                &mut repeat,
                &mut width,
                &mut status,
            )
        };
        self.check(status, || {
            format!("cannot read the type of column '{name}'")
        })?;
        Ok(ColumnInfo {
            colnum,
            name,
            typecode,
            repeat,
            width,
        })
    }

    fn read_numeric<T: Copy + Default>(
        &mut self,
        info: &ColumnInfo,
        datatype: c_int,
        first_row: usize,
        n: usize,
    ) -> Result<Vec<T>> {
        let mut out = vec![T::default(); n];
        if n == 0 {
            return Ok(out);
        }
        let mut anynul = 0;
        let mut status = 0;
        // SAFETY: out holds n values of the type matching `datatype` (see callers).
        unsafe {
            sys::ffgcv(
                self.ptr,
                datatype,
                c_int::try_from(info.colnum).unwrap_or(c_int::MAX),
                i64::try_from(first_row).unwrap_or(i64::MAX),
                1,
                i64::try_from(n).unwrap_or(i64::MAX),
                ptr::null_mut(),
                out.as_mut_ptr().cast(),
                &mut anynul,
                &mut status,
            )
        };
        self.check(status, || format!("cannot read column '{}'", info.name))?;
        Ok(out)
    }

    fn read_logical(&mut self, info: &ColumnInfo, first_row: usize, n: usize) -> Result<Vec<bool>> {
        let mut out = vec![0 as c_char; n];
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut anynul = 0;
        let mut status = 0;
        // SAFETY: out holds n chars.
        unsafe {
            sys::ffgcvl(
                self.ptr,
                c_int::try_from(info.colnum).unwrap_or(c_int::MAX),
                i64::try_from(first_row).unwrap_or(i64::MAX),
                1,
                i64::try_from(n).unwrap_or(i64::MAX),
                0,
                out.as_mut_ptr(),
                &mut anynul,
                &mut status,
            )
        };
        self.check(status, || format!("cannot read column '{}'", info.name))?;
        Ok(out.into_iter().map(|c| c != 0).collect())
    }

    fn read_strings(
        &mut self,
        info: &ColumnInfo,
        first_row: usize,
        n: usize,
    ) -> Result<Vec<String>> {
        let width = string_width(info).map_err(|msg| Error::file(&self.path, msg))?;
        if width == 0 {
            return Ok(vec![String::new(); n]);
        }
        let mut out = Vec::with_capacity(n);
        let mut done = 0;
        while done < n {
            let m = (n - done).min(STRING_CHUNK);
            let stride = width + 1;
            let mut buf = vec![0 as c_char; m * stride];
            let base = buf.as_mut_ptr();
            // SAFETY: every offset i * stride (i < m) lies inside buf.
            let mut ptrs: Vec<*mut c_char> =
                (0..m).map(|i| unsafe { base.add(i * stride) }).collect();
            let mut empty = [0 as c_char; 1];
            let mut anynul = 0;
            let mut status = 0;
            // SAFETY: ptrs holds m buffers of width+1 chars each.
            unsafe {
                sys::ffgcvs(
                    self.ptr,
                    c_int::try_from(info.colnum).unwrap_or(c_int::MAX),
                    i64::try_from(first_row + done).unwrap_or(i64::MAX),
                    1,
                    i64::try_from(m).unwrap_or(i64::MAX),
                    empty.as_mut_ptr(),
                    ptrs.as_mut_ptr(),
                    &mut anynul,
                    &mut status,
                )
            };
            self.check(status, || format!("cannot read column '{}'", info.name))?;
            out.extend(
                buf.chunks(stride)
                    .take(m)
                    .map(|cell| buf_to_string(cell).trim().to_string()),
            );
            done += m;
        }
        Ok(out)
    }

    /// Reads `n` rows of a scalar column, or of a column of byte arrays, from `first_row`
    /// (1-based); `None` for columns without a [`ColumnData`] form (other arrays, bits,
    /// complex numbers).
    pub(crate) fn read_column(
        &mut self,
        info: &ColumnInfo,
        first_row: usize,
        n: usize,
    ) -> Result<Option<ColumnData>> {
        if info.typecode < 0 {
            return Ok(None); // variable-length arrays
        }
        let code = info.typecode;
        if code == TSTRING {
            if info.width > 0 && info.repeat > info.width {
                return Ok(None);
            }
            return self
                .read_strings(info, first_row, n)
                .map(|v| Some(ColumnData::Str(v)));
        }
        if code == TBYTE && info.repeat > 1 {
            let len = usize::try_from(info.repeat).unwrap_or(0);
            let bytes: Vec<u8> = self.read_numeric(info, TBYTE, first_row, n * len)?;
            return Ok(Some(ColumnData::ByteArray(
                bytes.chunks_exact(len).map(<[u8]>::to_vec).collect(),
            )));
        }
        if info.repeat != 1 {
            return Ok(None);
        }
        let data = match code {
            c if c == TDOUBLE => ColumnData::F64(self.read_numeric(info, TDOUBLE, first_row, n)?),
            c if c == TFLOAT => ColumnData::F32(self.read_numeric(info, TFLOAT, first_row, n)?),
            c if c == TBYTE || c == TSBYTE || c == TSHORT => {
                ColumnData::I16(self.read_numeric(info, TSHORT, first_row, n)?)
            }
            c if c == TUSHORT || c == TINT || c == TLONG => {
                ColumnData::I32(self.read_numeric(info, TINT, first_row, n)?)
            }
            c if c == TUINT || c == TULONG || c == TLONGLONG || c == TULONGLONG => {
                ColumnData::I64(self.read_numeric(info, TLONGLONG, first_row, n)?)
            }
            c if c == TLOGICAL => ColumnData::Bool(self.read_logical(info, first_row, n)?),
            _ => return Ok(None),
        };
        Ok(Some(data))
    }

    /// Computes and writes `CHECKSUM` and `DATASUM` of the current HDU (after its data is
    /// complete: any later change invalidates them).
    pub(crate) fn write_checksums(&mut self) -> Result<()> {
        let mut status = 0;
        // SAFETY: open handle.
        unsafe { sys::ffpcks(self.ptr, &mut status) };
        self.check(status, || "cannot write the HDU checksums".into())
    }

    /// Flushes and closes the file, reporting any error (a full disk, for example).
    pub(crate) fn close(mut self) -> Result<()> {
        let fptr = std::mem::replace(&mut self.ptr, ptr::null_mut());
        let mut status = 0;
        // SAFETY: fptr is the open handle; it is not used again (Drop sees null).
        unsafe { sys::ffclos(fptr, &mut status) };
        self.check(status, || "cannot complete the file".into())
    }
}

impl Drop for Fits {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            let mut status = 0;
            // SAFETY: the open handle, closed once.
            unsafe { sys::ffclos(self.ptr, &mut status) };
            self.ptr = ptr::null_mut();
        }
    }
}

/// Bytes packed per `ffptbb` call when writing rows.
const BLOCK_BYTES: usize = 4 << 20;

/// Appends row `r` of `data` to `buf` in FITS binary-table encoding for `kind`.
fn encode_cell(buf: &mut Vec<u8>, data: &ColumnData, r: usize, kind: ColumnKind) {
    match data {
        ColumnData::F64(v) => buf.extend_from_slice(&v[r].to_be_bytes()),
        ColumnData::F32(v) => buf.extend_from_slice(&v[r].to_be_bytes()),
        ColumnData::I16(v) => buf.extend_from_slice(&v[r].to_be_bytes()),
        ColumnData::I32(v) => buf.extend_from_slice(&v[r].to_be_bytes()),
        ColumnData::I64(v) => buf.extend_from_slice(&v[r].to_be_bytes()),
        ColumnData::Bool(v) => buf.push(if v[r] { b'T' } else { b'F' }),
        ColumnData::ByteArray(v) => buf.extend_from_slice(&v[r]),
        ColumnData::F32Array(v) => v[r]
            .iter()
            .for_each(|x| buf.extend_from_slice(&x.to_be_bytes())),
        ColumnData::Str(v) => {
            let width = kind.byte_width();
            let bytes = v[r].as_bytes();
            let used = bytes.len().min(width);
            buf.extend_from_slice(&bytes[..used]);
            // Blank padding, as CFITSIO writes it (trailing blanks are not significant).
            buf.resize(buf.len() + (width - used), b' ');
        }
    }
}

/// The fewest significant digits (15–17) that let `v` be read back exactly.
fn shortest_digits(v: f64) -> c_int {
    for digits in 15..17 {
        let text = format!("{:.*e}", digits - 1, v);
        if text.parse::<f64>().ok() == Some(v) {
            return digits as c_int;
        }
    }
    17
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_column(repeat: i64, width: i64) -> ColumnInfo {
        ColumnInfo {
            colnum: 1,
            name: "NAME".into(),
            typecode: TSTRING,
            repeat,
            width,
        }
    }

    /// `TFORM = '0A'` holds empty strings; `'6A     0'` (a width of 0, which CFITSIO divides
    /// by) and `'1A1000000000000'` (a width a buffer would be sized by) are refused.
    #[test]
    fn string_widths_cfitsio_cannot_read_are_refused() {
        assert_eq!(string_width(&string_column(0, 0)), Ok(0));
        assert_eq!(string_width(&string_column(6, 6)), Ok(6));
        assert_eq!(string_width(&string_column(6, 2)), Ok(6));
        for (repeat, width) in [(6, 0), (1, 1_000_000_000_000)] {
            let refused = string_width(&string_column(repeat, width)).unwrap_err();
            assert!(refused.contains("not a valid TFORM"), "{refused}");
        }
    }

    #[test]
    fn shortest_digits_round_trip() {
        for v in [0.1, 1.0 / 3.0, 9.810999870300293, 1e300, -2.5e-300] {
            let d = shortest_digits(v) as usize;
            let text = format!("{:.*e}", d - 1, v);
            assert_eq!(text.parse::<f64>().ok(), Some(v));
        }
    }
}
