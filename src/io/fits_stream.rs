//! FITS files as a stream of HDUs: raw header records and data bytes, read sequentially from
//! plain or gzip-compressed files without loading a whole HDU, for concatenating tables
//! (`merge`) with memory that does not grow with the row count.
//!
//! A header is its 80-character records up to (without) `END`; the data unit's size follows
//! from `BITPIX`, `NAXISn`, `PCOUNT` and `GCOUNT` (FITS 4.0 §4.4.1), padded to 2880 bytes.
//! A file that ends inside an HDU is reported as truncated, naming the HDU.

use crate::io::header_records::parse_cards;
use crate::{Error, Result};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes of a FITS block.
pub const BLOCK: u64 = 2880;
/// Bytes of a header record.
const RECORD: usize = 80;
/// The most axes an HDU may have. FITS allows 999, but CFITSIO keeps 99 per HDU and its pixel
/// readers take one coordinate per axis: astronn's images have 1 to 3, its tables 2.
pub const MAX_AXES: i64 = 9;
/// The most records a header may have (8 MB of cards; SDSS's longest have a few thousand).
const MAX_HEADER_RECORDS: usize = 100_000;
/// The largest data unit read (2^62 bytes): far beyond any file, and small enough that its
/// padding and position arithmetic cannot overflow.
pub const MAX_DATA_BYTES: u64 = 1 << 62;

/// One HDU's header: its records without `END`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawHeader {
    /// The 80-character records, in order.
    pub records: Vec<String>,
}

impl RawHeader {
    /// The keyword of a record (its first 8 characters, trimmed).
    pub fn keyword(record: &str) -> &str {
        record.get(..8).unwrap_or(record).trim()
    }

    /// The value of `key` as text (strings unquoted; see [`crate::io::table::read_primary_cards`]).
    pub fn value(&self, key: &str) -> Option<String> {
        parse_cards(&self.records)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The integer value of `key`.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.value(key)?.parse().ok()
    }

    /// The size of the data unit in bytes, without padding, from `BITPIX`, `NAXISn`, `PCOUNT`
    /// and `GCOUNT`, each checked as FITS 4.0 §4.4.1 defines it: a header whose sizes are not
    /// valid, or whose data would exceed [`MAX_DATA_BYTES`], is an error (CFITSIO trusts these
    /// numbers, and a negative or overflowing size makes it misplace or endlessly walk HDUs).
    pub fn data_bytes(&self) -> Result<u64> {
        let int = |key: &str| {
            self.int(key)
                .ok_or_else(|| Error::Invalid(format!("the header has no valid {key}")))
        };
        let naxis = int("NAXIS")?;
        if !(0..=MAX_AXES).contains(&naxis) {
            return Err(Error::Invalid(format!(
                "NAXIS = {naxis}: astronn reads HDUs of 0 to {MAX_AXES} axes"
            )));
        }
        let bitpix = int("BITPIX")?;
        if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
            return Err(Error::Invalid(format!(
                "BITPIX = {bitpix} is not a FITS value"
            )));
        }
        let (pcount, gcount) = self.group_counts()?;
        if naxis == 0 {
            return Ok(0);
        }
        let overflow = || {
            Error::Invalid(format!(
                "the data size overflows (over {MAX_DATA_BYTES} bytes)"
            ))
        };
        let mut cells: u64 = 1;
        // Random groups (a primary with GROUPS = T and NAXIS1 = 0) count from axis 2.
        let groups = self.value("GROUPS").is_some_and(|v| v.trim() == "T");
        let first = if groups && self.int("NAXIS1") == Some(0) {
            2
        } else {
            1
        };
        for axis in first..=naxis {
            let key = format!("NAXIS{axis}");
            let length = u64::try_from(int(&key)?)
                .map_err(|_| Error::Invalid(format!("{key} is negative")))?;
            cells = cells.checked_mul(length).ok_or_else(overflow)?;
        }
        let bytes = pcount
            .checked_add(cells)
            .and_then(|n| n.checked_mul(gcount))
            .and_then(|n| n.checked_mul(bitpix.unsigned_abs() / 8))
            .filter(|&n| n <= MAX_DATA_BYTES)
            .ok_or_else(overflow)?;
        Ok(bytes)
    }

    /// `PCOUNT` (0 when absent) and `GCOUNT` (1 when absent): neither negative, and `GCOUNT`
    /// 1 in the standard extensions (FITS 4.0 §7).
    fn group_counts(&self) -> Result<(u64, u64)> {
        let pcount = self.int("PCOUNT").unwrap_or(0);
        let gcount = self.int("GCOUNT").unwrap_or(1);
        let standard = self
            .value("XTENSION")
            .is_some_and(|x| ["IMAGE", "TABLE", "BINTABLE"].contains(&x.trim()));
        if pcount < 0 || gcount < 0 || (standard && gcount != 1) {
            return Err(Error::Invalid(format!(
                "PCOUNT = {pcount} and GCOUNT = {gcount} are not valid FITS values"
            )));
        }
        Ok((pcount as u64, gcount as u64))
    }

    /// Replaces the value of the integer card `key` (fixed format), keeping its comment.
    pub fn set_int(&mut self, key: &str, value: i64) {
        for record in &mut self.records {
            if RawHeader::keyword(record) == key {
                let comment = record.find(" / ").map(|i| record[i..].to_string());
                *record = pad(&format!(
                    "{key:<8}= {value:>20}{}",
                    comment.unwrap_or_default()
                ));
            }
        }
    }

    /// Removes the cards `keys` (with the `CONTINUE` records of a long string).
    pub fn remove(&mut self, keys: &[&str]) {
        let mut dropping = false;
        self.records.retain(|record| {
            let key = RawHeader::keyword(record);
            if key != "CONTINUE" {
                dropping = keys.contains(&key);
            }
            !dropping
        });
    }

    /// Appends an integer card.
    pub fn push_int(&mut self, key: &str, value: i64, comment: &str) {
        self.records
            .push(pad(&format!("{key:<8}= {value:>20} / {comment}")));
    }

    /// Appends a real card, written with three decimals.
    pub fn push_real(&mut self, key: &str, value: f64, comment: &str) {
        self.records
            .push(pad(&format!("{key:<8}= {value:>20.3} / {comment}")));
    }

    /// Appends `HISTORY` cards holding `text` (split over several when long).
    pub fn push_history(&mut self, text: &str) {
        let chars: Vec<char> = text.chars().filter(char::is_ascii).collect();
        for piece in chars.chunks(RECORD - 8) {
            let piece: String = piece.iter().collect();
            self.records.push(pad(&format!("HISTORY {piece}")));
        }
    }

    /// The header as bytes: the records, `END`, and blanks up to a whole block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity((self.records.len() + 1) * RECORD);
        for record in &self.records {
            bytes.extend_from_slice(pad(record).as_bytes());
        }
        bytes.extend_from_slice(pad("END").as_bytes());
        bytes.resize(padded(bytes.len() as u64) as usize, b' ');
        bytes
    }
}

/// `text` cut or blank-padded to one 80-character record.
fn pad(text: &str) -> String {
    let mut record: String = text.chars().take(RECORD).collect();
    while record.len() < RECORD {
        record.push(' ');
    }
    record
}

/// `bytes` rounded up to whole blocks.
pub fn padded(bytes: u64) -> u64 {
    bytes.div_ceil(BLOCK) * BLOCK
}

/// Where an HDU lies in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct HduLayout {
    /// The header.
    pub header: RawHeader,
    /// Offset of the data unit in the (decompressed) file.
    pub data_start: u64,
    /// Bytes of data, without padding.
    pub data_bytes: u64,
}

/// Reads a FITS file's HDUs in order.
pub struct FitsStream {
    reader: Source,
    path: PathBuf,
    position: u64,
}

enum Source {
    Plain(BufReader<File>),
    Gzip(Box<flate2::read::MultiGzDecoder<BufReader<File>>>),
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::Plain(r) => r.read(buf),
            Source::Gzip(r) => r.read(buf),
        }
    }
}

impl FitsStream {
    /// Opens `path`; gzip-compressed files (recognised by their magic bytes) are
    /// decompressed as they are read.
    pub fn open(path: &Path) -> Result<FitsStream> {
        FitsStream::open_buffered(path, 1 << 20)
    }

    /// Opens `path` with a read buffer of `capacity` bytes.
    pub(crate) fn open_buffered(path: &Path, capacity: usize) -> Result<FitsStream> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut magic = [0u8; 2];
        let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(path, e))?;
        let reader = BufReader::with_capacity(capacity, file);
        Ok(FitsStream {
            reader: if gzip {
                Source::Gzip(Box::new(flate2::read::MultiGzDecoder::new(reader)))
            } else {
                Source::Plain(reader)
            },
            path: path.to_path_buf(),
            position: 0,
        })
    }

    /// The layout of every HDU, reading the whole file (skipping data, which a plain file
    /// seeks over); a file that ends inside an HDU is an error naming it.
    pub fn scan(path: &Path) -> Result<Vec<HduLayout>> {
        let mut stream = FitsStream::open(path)?;
        let mut hdus = Vec::new();
        while let Some(header) = stream.next_header(hdus.len())? {
            let data_bytes = header
                .data_bytes()
                .map_err(|e| Error::file(path, format!("HDU {}: {e}", hdus.len())))?;
            let data_start = stream.position;
            stream.skip(padded(data_bytes), hdus.len())?;
            hdus.push(HduLayout {
                header,
                data_start,
                data_bytes,
            });
        }
        if hdus.is_empty() {
            return Err(Error::file(path, "the file is empty, not a FITS file"));
        }
        Ok(hdus)
    }

    /// The next header, or `None` at the end of the file; `hdu` (0: the primary) names the
    /// HDU in messages.
    fn next_header(&mut self, hdu: usize) -> Result<Option<RawHeader>> {
        self.read_header(hdu, false)
    }

    /// The next header as [`FitsStream::next_header`] reads it, `tolerant` of what may follow
    /// the last HDU of a file that CFITSIO reads (bytes that do not start an extension: a
    /// partial block, zeros, text), which then end the file.
    pub(crate) fn read_header(&mut self, hdu: usize, tolerant: bool) -> Result<Option<RawHeader>> {
        let mut records = Vec::new();
        let mut block = Vec::with_capacity(BLOCK as usize);
        loop {
            block.clear();
            let got = (&mut self.reader)
                .take(BLOCK)
                .read_to_end(&mut block)
                .map_err(|e| Error::io(&self.path, e))?;
            if got == 0 && records.is_empty() {
                return Ok(None);
            }
            if hdu == 0 && records.is_empty() && !block[..got].starts_with(b"SIMPLE  =") {
                return Err(Error::file(
                    &self.path,
                    "not a readable FITS file: it does not start with a SIMPLE card",
                ));
            }
            if tolerant && hdu > 0 && records.is_empty() && !block.starts_with(b"XTENSION=") {
                return Ok(None);
            }
            if records.len() >= MAX_HEADER_RECORDS {
                return Err(Error::file(
                    &self.path,
                    format!("HDU {hdu}: a header of over {MAX_HEADER_RECORDS} cards"),
                ));
            }
            if got < BLOCK as usize {
                return Err(self.truncated(hdu, "header"));
            }
            self.position += BLOCK;
            for chunk in block.chunks(RECORD) {
                let record = std::str::from_utf8(chunk)
                    .ok()
                    .filter(|r| r.is_ascii())
                    .ok_or_else(|| {
                        Error::file(
                            &self.path,
                            format!("HDU {hdu}: the header is not ASCII text: not a FITS file"),
                        )
                    })?;
                if RawHeader::keyword(record) == "END" {
                    return Ok(Some(RawHeader { records }));
                }
                records.push(record.to_string());
            }
        }
    }

    /// Skips `bytes` of HDU `hdu`'s data.
    fn skip(&mut self, bytes: u64, hdu: usize) -> Result<()> {
        self.skip_within(bytes, hdu, true)
    }

    /// Skips the `bytes` of HDU `hdu`'s data and as much of their padding as the file holds
    /// (CFITSIO reads a last HDU whose padding is cut short).
    pub(crate) fn skip_data(&mut self, bytes: u64, hdu: usize) -> Result<()> {
        self.skip(bytes, hdu)?;
        self.skip_within(padded(bytes) - bytes, hdu, false)
    }

    /// Skips `bytes` of HDU `hdu`, or (not `strict`) as many of them as the file still holds;
    /// a `strict` skip past the end of the file is an error saying it is truncated.
    fn skip_within(&mut self, bytes: u64, hdu: usize, strict: bool) -> Result<()> {
        let skipped = match &mut self.reader {
            Source::Plain(reader) => {
                let length = reader
                    .get_ref()
                    .metadata()
                    .map_err(|e| Error::io(&self.path, e))?
                    .len();
                let skipped = bytes.min(length.saturating_sub(self.position));
                let offset = i64::try_from(skipped).unwrap_or(i64::MAX);
                reader
                    .seek_relative(offset)
                    .map_err(|e| Error::io(&self.path, e))?;
                skipped
            }
            Source::Gzip(_) => {
                std::io::copy(&mut (&mut self.reader).take(bytes), &mut std::io::sink())
                    .map_err(|e| Error::io(&self.path, e))?
            }
        };
        self.position += skipped;
        if strict && skipped < bytes {
            return Err(self.truncated(hdu, "data"));
        }
        Ok(())
    }

    /// Copies `hdu.data_bytes` bytes of the data unit of `hdu` (number `index`) to `out`.
    pub fn copy_data(&mut self, hdu: &HduLayout, index: usize, out: &mut impl Write) -> Result<()> {
        if self.position > hdu.data_start {
            return Err(Error::Invalid(format!(
                "{}: HDU {index} was already read past",
                self.path.display()
            )));
        }
        self.skip(hdu.data_start - self.position, index)?;
        let copied = std::io::copy(&mut (&mut self.reader).take(hdu.data_bytes), out)
            .map_err(|e| Error::io(&self.path, e))?;
        self.position += copied;
        if copied < hdu.data_bytes {
            return Err(self.truncated(index, "data"));
        }
        Ok(())
    }

    fn truncated(&self, hdu: usize, part: &str) -> Error {
        Error::file(
            &self.path,
            format!("the file is truncated: it ends inside the {part} of HDU {hdu}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(records: &[&str]) -> RawHeader {
        RawHeader {
            records: records.iter().map(|r| pad(r)).collect(),
        }
    }

    #[test]
    fn data_size_of_tables_and_images() {
        let table = header(&[
            "XTENSION= 'BINTABLE'",
            "BITPIX  =                    8",
            "NAXIS   =                    2",
            "NAXIS1  =                  100",
            "NAXIS2  =                   29",
            "PCOUNT  =                    0",
            "GCOUNT  =                    1",
        ]);
        assert_eq!(table.data_bytes().unwrap(), 2900);
        let image = header(&[
            "XTENSION= 'IMAGE   '",
            "BITPIX  =                  -64",
            "NAXIS   =                    2",
            "NAXIS1  =                 7514",
            "NAXIS2  =                    3",
        ]);
        assert_eq!(image.data_bytes().unwrap(), 8 * 7514 * 3);
        assert_eq!(
            header(&["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 0"])
                .data_bytes()
                .unwrap(),
            0
        );
        assert_eq!(padded(2900), 5760);
    }

    #[test]
    fn edits_keep_records_whole() {
        let mut h = header(&[
            "NAXIS2  =                   29 / number of rows",
            "CMDLINE = 'astronn predict &'",
            "CONTINUE  '--shard 1/4'",
            "SEED    = '7       '",
        ]);
        h.set_int("NAXIS2", 120);
        h.remove(&["CMDLINE"]);
        h.push_int("NSPECTRA", 12, "Spectra");
        h.push_real("ELAPSED", 1.23456, "Run time [s]");
        h.push_history(&"x".repeat(100));
        assert!(h.records.iter().all(|r| r.len() == 80));
        assert_eq!(h.int("NAXIS2"), Some(120));
        assert!(h.records[0].contains("/ number of rows"));
        assert_eq!(h.value("SEED").as_deref(), Some("7"));
        assert!(h.value("CMDLINE").is_none());
        assert!(!h.records.iter().any(|r| r.starts_with("CONTINUE")));
        assert_eq!(h.int("NSPECTRA"), Some(12));
        assert_eq!(h.value("ELAPSED").as_deref(), Some("1.235"));
        assert_eq!(
            h.records
                .iter()
                .filter(|r| r.starts_with("HISTORY"))
                .count(),
            2
        );
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), 2880);
    }
}
