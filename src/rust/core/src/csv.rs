//! A CSV file's group statistics, read from blocks of bytes as they come
//! (RFC 4180: fields separated by commas, quoted with `"`, a quote inside
//! doubled; records end with LF, CRLF or CR). The caller feeds the bytes
//! (R reads them, decompressing if need be), takes the header, chooses the
//! columns, then takes the chosen fields of up to a chunk of records at a
//! time and gives back each record's values: its response (the lecture's
//! models) or the d variables a regression's statistics are made of. The state carried from block to block
//! (a record cut by a block's end is parsed again whole from the next) makes
//! the result the same whatever the blocks and chunks: the groups are the
//! distinct raw values of the grouping fields, in the order first met, and
//! their statistics are those of one pass over the file.
//!
//! Anything that is not a well-formed CSV record is an error naming its
//! line, never a guess: an unterminated quote, text after a closing quote,
//! a quote inside an unquoted field, a record with more or fewer fields than
//! the header, a NUL byte, a used field that is not UTF-8.

use std::collections::HashMap;

use crate::cross::CrossStats;
use crate::stats::RunningStats;

/// A malformed file: the message names the line.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvError(pub String);

impl std::fmt::Display for CsvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Strings stored end to end: field `i` is `text[ends[i - 1]..ends[i]]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    text: String,
    ends: Vec<usize>,
}

impl Fields {
    fn push(&mut self, field: &str) {
        self.text.push_str(field);
        self.ends.push(self.text.len());
    }

    /// Field `i`.
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The fields as numbers if every one is a plain decimal number (`-1.5`,
    /// `2e-3`, `.5`; correctly rounded) or missing (`NA` or empty: NaN).
    /// None if any is something else (spaces, `Inf`, hex, text), for the
    /// caller to read as R reads it.
    pub fn plain_numbers(&self) -> Option<Vec<f64>> {
        self.iter()
            .map(|field| match field {
                "" | "NA" => Some(f64::NAN),
                _ if is_plain_decimal(field) => field.parse().ok(),
                _ => None,
            })
            .collect()
    }
}

/// `[+-]digits[.digits][(e|E)[+-]digits]`, with a digit before or after
/// the point.
fn is_plain_decimal(field: &str) -> bool {
    let b = field.as_bytes();
    let digits_from = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let whole = digits_from(i);
    let mut digits = whole - i;
    i = whole;
    if b.get(i) == Some(&b'.') {
        let fraction = digits_from(i + 1);
        digits += fraction - i - 1;
        i = fraction;
    }
    if digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1 + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let exponent = digits_from(i);
        if exponent == i {
            return false;
        }
        i = exponent;
    }
    i == b.len()
}

/// What a call of [`CsvReader::next_chunk`] returns.
#[derive(Debug, Default, PartialEq)]
pub struct Chunk {
    /// The header's fields, on the call that reads it (and no records then).
    pub header: Option<Vec<String>>,
    /// For each response column chosen, its field in each record read.
    pub fields: Vec<Fields>,
    /// The line each record read starts on (1-based).
    pub lines: Vec<f64>,
    /// The file is read to its end.
    pub finished: bool,
}

/// What a reader accumulates per group: the statistics of one response per
/// record, or the count, means and cross-products of d values per record.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupAccumulator {
    Responses(RunningStats),
    Variables(CrossStats),
}

impl Default for GroupAccumulator {
    fn default() -> Self {
        Self::Responses(RunningStats::default())
    }
}

impl GroupAccumulator {
    /// Values given per record.
    fn width(&self) -> usize {
        match self {
            Self::Responses(_) => 1,
            Self::Variables(stats) => stats.n_variables(),
        }
    }

    fn add_group(&mut self) -> usize {
        match self {
            Self::Responses(stats) => stats.add_group(),
            Self::Variables(stats) => stats.add_group(),
        }
    }

    /// Observations per group so far.
    pub fn n(&self) -> &[f64] {
        match self {
            Self::Responses(stats) => stats.n(),
            Self::Variables(stats) => stats.n(),
        }
    }

    fn observe(&mut self, k: usize, v: &[f64]) {
        match self {
            Self::Responses(stats) => stats.observe(k, v[0], 1.0),
            Self::Variables(stats) => stats.observe(k, v),
        }
    }
}

/// One record's fields, parsed into reused buffers.
#[derive(Default)]
struct Record {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Record {
    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    /// Field `i` as text: R strings hold no NUL and hiermod's are UTF-8.
    fn text(&self, i: usize) -> Result<&str, CsvError> {
        let bytes = self.field(i);
        if bytes.contains(&0) {
            return Err(CsvError("holds a NUL byte (is it a text file?)".into()));
        }
        std::str::from_utf8(bytes)
            .map_err(|_| CsvError("is not UTF-8 text (convert the file to UTF-8)".into()))
    }
}

enum Parsed {
    /// A record, ending just before the given offset and on the given line.
    Record { next: usize, lines: u64 },
    /// An empty line, skipped.
    Blank { next: usize },
    /// More bytes are needed to finish the record.
    Incomplete,
    /// No bytes are left.
    End,
}

/// The reader's state from one block of bytes to the next.
#[derive(Default)]
pub struct CsvReader {
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// Line of `buf[pos]`, 1-based.
    line: u64,
    n_fields: Option<usize>,
    response: Vec<usize>,
    groups: Vec<usize>,
    selected: bool,
    record: Record,
    key: Vec<u8>,
    codes: HashMap<Vec<u8>, usize>,
    group_fields: Vec<Fields>,
    stats: GroupAccumulator,
    first_line: Vec<f64>,
    pending: Chunk,
    pending_codes: Vec<usize>,
    chunk_codes: Vec<usize>,
    chunk_lines: Vec<f64>,
}

impl CsvReader {
    /// A reader that has seen no byte yet.
    pub fn new() -> Self {
        Self {
            line: 1,
            ..Self::default()
        }
    }

    /// Appends the next bytes of the file; an empty block means its end.
    pub fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            self.eof = true;
            return;
        }
        // Drop what is parsed once it is most of the buffer, so that the
        // buffer stays about one block long.
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Chooses, by 0-based index in the header, the response columns (whose
    /// fields [`next_chunk`](Self::next_chunk) returns), the grouping
    /// columns (whose raw values key the groups) and what is accumulated:
    /// one response per record (`variables` None) or `d` values.
    pub fn select(
        &mut self,
        response: Vec<usize>,
        groups: Vec<usize>,
        variables: Option<usize>,
    ) -> Result<(), CsvError> {
        let n = self
            .n_fields
            .ok_or_else(|| CsvError("no header has been read".into()))?;
        if response.iter().chain(&groups).any(|&j| j >= n) {
            return Err(CsvError("column index out of range".into()));
        }
        self.group_fields = vec![Fields::default(); groups.len()];
        self.stats = match variables {
            None => GroupAccumulator::Responses(RunningStats::new(0)),
            Some(d) => GroupAccumulator::Variables(CrossStats::new(0, d)),
        };
        self.response = response;
        self.groups = groups;
        self.selected = true;
        Ok(())
    }

    /// Parses the bytes fed so far: the header first (returned alone), then,
    /// once the columns are chosen, data records into the next chunk, which
    /// is returned when it has `max_rows` records or the file has ended.
    /// None: feed more bytes.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Chunk>, CsvError> {
        let finished = |r: &Self| r.eof && r.pos == r.buf.len();
        if self.n_fields.is_none() {
            self.skip_bom();
            let Some(line) = self.read_record()? else {
                let empty = Chunk {
                    finished: true,
                    ..Chunk::default()
                };
                return Ok(finished(self).then_some(empty));
            };
            let header = (0..self.record.ends.len())
                .map(|j| self.text(j).map(str::to_owned))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| CsvError(format!("line {line}: a header field {}", e.0)))?;
            self.n_fields = Some(header.len());
            return Ok(Some(Chunk {
                header: Some(header),
                ..Chunk::default()
            }));
        }
        if !self.selected {
            return Err(CsvError("no columns have been chosen".into()));
        }
        if !self.chunk_codes.is_empty() {
            return Err(CsvError("the last chunk's responses were not added".into()));
        }
        self.pending
            .fields
            .resize(self.response.len(), Fields::default());
        while self.pending.lines.len() < max_rows {
            let Some(line) = self.read_record()? else {
                break;
            };
            let n_fields = self.n_fields.unwrap_or(0);
            if self.record.ends.len() != n_fields {
                return Err(CsvError(format!(
                    "line {line} has {} field(s), but the header has {n_fields}",
                    self.record.ends.len()
                )));
            }
            for (c, &j) in self.response.iter().enumerate() {
                let field = self.record.text(j).map_err(|e| at_line(e, line))?;
                self.pending.fields[c].push(field);
            }
            let code = self.group_code().map_err(|e| at_line(e, line))?;
            self.pending_codes.push(code);
            self.pending.lines.push(line as f64);
        }
        let done = finished(self);
        if self.pending.lines.len() < max_rows && !done {
            return Ok(None);
        }
        let mut chunk = std::mem::take(&mut self.pending);
        chunk.finished = done;
        self.chunk_codes = std::mem::take(&mut self.pending_codes);
        self.chunk_lines.clone_from(&chunk.lines);
        Ok(Some(chunk))
    }

    /// Records parsed into the chunk not yet returned.
    pub fn pending(&self) -> usize {
        self.pending.lines.len()
    }

    /// Adds the values of the records of the last chunk: one response each,
    /// or `d` variables each as the columns of a records x d matrix
    /// (column-major). A record with a NaN is dropped. Finite values are the
    /// caller's to check.
    pub fn add(&mut self, values: &[f64]) -> Result<(), CsvError> {
        let n = self.chunk_codes.len();
        let d = self.stats.width();
        if values.len() != n * d {
            return Err(CsvError(format!(
                "{} value(s) for a chunk of {n} record(s) of {d} variable(s)",
                values.len()
            )));
        }
        let mut row = vec![0.0; d];
        for (i, (&k, &line)) in self.chunk_codes.iter().zip(&self.chunk_lines).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = values[j * n + i];
            }
            if row.iter().any(|v| v.is_nan()) {
                continue;
            }
            if self.stats.n()[k] == 0.0 {
                self.first_line[k] = line;
            }
            self.stats.observe(k, &row);
        }
        self.chunk_codes.clear();
        Ok(())
    }

    /// The groups met, in the order first met: the raw value of each grouping
    /// column, then their statistics (a group met only in dropped records
    /// has n = 0), and the line of each group's first record kept (NaN for
    /// those).
    pub fn groups(&self) -> (&[Fields], &GroupAccumulator, &[f64]) {
        (&self.group_fields, &self.stats, &self.first_line)
    }

    fn skip_bom(&mut self) {
        const BOM: &[u8] = b"\xef\xbb\xbf";
        let rest = &self.buf[self.pos..];
        if rest.starts_with(BOM) {
            self.pos += BOM.len();
        }
    }

    /// Reads the next non-blank record into `self.record` and returns the
    /// line it starts on; None if the bytes fed so far end before it does.
    fn read_record(&mut self) -> Result<Option<u64>, CsvError> {
        loop {
            match self.parse()? {
                Parsed::Record { next, lines } => {
                    let line = self.line;
                    self.pos = next;
                    self.line += lines;
                    return Ok(Some(line));
                }
                Parsed::Blank { next } => {
                    self.pos = next;
                    self.line += 1;
                }
                Parsed::Incomplete | Parsed::End => return Ok(None),
            }
        }
    }

    /// Parses one record at `self.pos` without consuming it.
    fn parse(&mut self) -> Result<Parsed, CsvError> {
        let buf = &self.buf;
        let eof = self.eof;
        let end = buf.len();
        let mut i = self.pos;
        if i == end {
            return Ok(if eof { Parsed::End } else { Parsed::Incomplete });
        }
        let record = &mut self.record;
        record.bytes.clear();
        record.ends.clear();
        let mut lines = 0u64;
        // Length of the line ending at `i` (0 if none), or None if a CR ends
        // the bytes fed so far and the next could be its LF.
        let ending = |i: usize| -> Option<usize> {
            match buf.get(i) {
                Some(b'\n') => Some(1),
                Some(b'\r') => match buf.get(i + 1) {
                    Some(b'\n') => Some(2),
                    Some(_) => Some(1),
                    None if eof => Some(1),
                    None => None,
                },
                _ => Some(0),
            }
        };
        match ending(i) {
            None => return Ok(Parsed::Incomplete),
            Some(len) if len > 0 => return Ok(Parsed::Blank { next: i + len }),
            _ => {}
        }
        loop {
            // one field
            if buf.get(i) == Some(&b'"') {
                let opened = self.line + lines;
                i += 1;
                loop {
                    let Some(&c) = buf.get(i) else {
                        if eof {
                            return Err(CsvError(format!(
                                "line {opened}: a quoted field is never closed (a `\"` is missing)"
                            )));
                        }
                        return Ok(Parsed::Incomplete);
                    };
                    if c == b'"' {
                        match buf.get(i + 1) {
                            Some(b'"') => {
                                record.bytes.push(b'"');
                                i += 2;
                            }
                            None if !eof => return Ok(Parsed::Incomplete),
                            _ => {
                                i += 1;
                                break;
                            }
                        }
                        continue;
                    }
                    match ending(i) {
                        None => return Ok(Parsed::Incomplete),
                        Some(len) if len > 0 => {
                            record.bytes.extend_from_slice(&buf[i..i + len]);
                            lines += 1;
                            i += len;
                        }
                        _ => {
                            record.bytes.push(c);
                            i += 1;
                        }
                    }
                }
                if !matches!(buf.get(i), None | Some(b',' | b'\n' | b'\r')) {
                    return Err(CsvError(format!(
                        "line {}: text after the closing `\"` of a quoted field",
                        self.line + lines
                    )));
                }
            } else {
                while let Some(&c) = buf.get(i) {
                    match c {
                        b',' | b'\n' | b'\r' => break,
                        b'"' => {
                            return Err(CsvError(format!(
                                "line {}: a `\"` inside an unquoted field (quote the \
                                 field and double the `\"`)",
                                self.line + lines
                            )));
                        }
                        _ => record.bytes.push(c),
                    }
                    i += 1;
                }
                if i == end && !eof {
                    return Ok(Parsed::Incomplete);
                }
            }
            record.ends.push(record.bytes.len());
            match buf.get(i) {
                Some(b',') => i += 1,
                None => return Ok(Parsed::Record { next: i, lines }),
                Some(_) => match ending(i) {
                    None => return Ok(Parsed::Incomplete),
                    Some(len) => {
                        return Ok(Parsed::Record {
                            next: i + len,
                            lines: lines + 1,
                        });
                    }
                },
            }
        }
    }

    /// Field `j` of the current record as text.
    fn text(&self, j: usize) -> Result<&str, CsvError> {
        self.record.text(j)
    }

    /// The group of the current record, a new one if its grouping fields
    /// have not been met before.
    fn group_code(&mut self) -> Result<usize, CsvError> {
        // Each field preceded by its length, so that no two tuples of fields
        // give the same key.
        self.key.clear();
        for &j in &self.groups {
            let field = self.record.field(j);
            self.key
                .extend_from_slice(&(field.len() as u64).to_le_bytes());
            self.key.extend_from_slice(field);
        }
        if let Some(&code) = self.codes.get(self.key.as_slice()) {
            return Ok(code);
        }
        for (c, &j) in self.groups.iter().enumerate() {
            let field = self.record.text(j)?;
            self.group_fields[c].push(field);
        }
        let code = self.stats.add_group();
        self.first_line.push(f64::NAN);
        self.codes.insert(self.key.clone(), code);
        Ok(code)
    }
}

fn at_line(e: CsvError, line: u64) -> CsvError {
    CsvError(format!("line {line}: a used field {}", e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Groups = (Vec<String>, Vec<f64>, Vec<f64>, Vec<f64>);

    /// Reads `text` fed `block` bytes at a time, `chunk` records at a time,
    /// with the response column `y` and grouping column `g`; returns the
    /// groups' raw values, counts, means and the responses' first lines.
    fn read(text: &[u8], block: usize, chunk: usize) -> Result<Groups, CsvError> {
        let mut r = CsvReader::new();
        let mut bytes = text.chunks(block.max(1));
        let mut lines = Vec::new();
        loop {
            let Some(out) = r.next_chunk(chunk)? else {
                r.feed(bytes.next().unwrap_or(&[]));
                continue;
            };
            if let Some(header) = out.header {
                let col = |name: &str| header.iter().position(|h| h == name).unwrap();
                r.select(vec![col("y")], vec![col("g")], None)?;
                continue;
            }
            let y: Vec<f64> = out.fields.first().map_or(Vec::new(), |f| {
                f.iter()
                    .map(|s| s.trim().parse().unwrap_or(f64::NAN))
                    .collect()
            });
            lines.extend_from_slice(&out.lines);
            r.add(&y)?;
            if out.finished {
                break;
            }
        }
        let (fields, GroupAccumulator::Responses(stats), _) = r.groups() else {
            unreachable!("a response per record was chosen")
        };
        let groups = fields[0].iter().map(str::to_owned).collect();
        Ok((groups, stats.n().to_vec(), stats.ybar().to_vec(), lines))
    }

    #[test]
    fn the_same_whatever_the_blocks_and_chunks() {
        let text = b"\xef\xbb\xbfg,y,note\r\n\"a\",1,x\r\n\r\nb,2,\"two\nlines\"\r\na,3,\"say \"\"hi\"\"\"\nb,,\rc,5,";
        let expected = read(text, text.len(), 100).unwrap();
        assert_eq!(expected.0, ["a", "b", "c"]);
        assert_eq!(expected.1, [2.0, 1.0, 1.0]);
        assert_eq!(expected.2, [2.0, 2.0, 5.0]);
        assert_eq!(expected.3, [2.0, 4.0, 6.0, 7.0, 8.0]);
        for block in 1..=text.len() {
            for chunk in [1, 2, 3, 100] {
                assert_eq!(
                    read(text, block, chunk).unwrap(),
                    expected,
                    "block {block}, chunk {chunk}"
                );
            }
        }
    }

    #[test]
    fn malformed_records_are_errors_naming_their_line() {
        let cases = [
            (
                &b"g,y\n1,2\n\"oops,a\n2,4\n"[..],
                "line 3: a quoted field is never closed",
            ),
            (b"g,y\n1,2\n\"a\"b,3\n", "line 3: text after the closing"),
            (
                b"g,y\n1,2\na\"b,3\n",
                "line 3: a `\"` inside an unquoted field",
            ),
            (
                b"g,y\n1,2\n1,2,3\n",
                "line 3 has 3 field(s), but the header has 2",
            ),
            (b"g,y\n1,2\n\n4\n", "line 4 has 1 field(s)"),
            (
                b"g,y\n1,2\na\0,3\n",
                "line 3: a used field holds a NUL byte",
            ),
            (b"g,y\n\xff,3\n", "line 2: a used field is not UTF-8"),
            (b"g,\xff\n1,3\n", "line 1: a header field is not UTF-8"),
        ];
        for (text, message) in cases {
            for block in [1, 3, 1000] {
                let err = read(text, block, 2).unwrap_err();
                assert!(err.0.starts_with(message), "{text:?}: {err}");
            }
        }
    }

    #[test]
    fn misuse_is_an_error_not_a_panic() {
        let mut r = CsvReader::new();
        r.feed(b"g,y\n1,2\n1,3\r");
        let header = r.next_chunk(1).unwrap().unwrap().header.unwrap();
        assert_eq!(header, ["g", "y"]);
        // records before the columns are chosen, columns out of range
        assert!(r.next_chunk(1).is_err());
        assert!(r.select(vec![2], vec![], None).is_err());
        r.select(vec![1], vec![0], None).unwrap();
        let chunk = r.next_chunk(1).unwrap().unwrap();
        assert_eq!(chunk.fields[0].len(), 1);
        assert!(!chunk.fields[0].is_empty());
        // the next chunk before this one's responses, then too many of them
        assert!(r.next_chunk(1).is_err());
        assert!(r.add(&[2.0, 3.0]).is_err());
        r.add(&[2.0]).unwrap();
        // a CR at the end of the bytes fed may be followed by its LF
        assert!(r.next_chunk(5).unwrap().is_none());
        r.feed(b"\n");
        assert!(r.next_chunk(5).unwrap().is_none());
        r.feed(b"");
        let last = r.next_chunk(5).unwrap().unwrap();
        assert!(last.finished);
        assert_eq!(last.lines, [3.0]);
        r.add(&[3.0]).unwrap();
        let (fields, GroupAccumulator::Responses(stats), lines) = r.groups() else {
            unreachable!("a response per record was chosen")
        };
        assert_eq!(fields[0].iter().collect::<Vec<_>>(), ["1"]);
        assert_eq!(
            (stats.n(), stats.ybar(), lines),
            (&[2.0][..], &[2.5][..], &[2.0][..])
        );
    }

    #[test]
    fn an_empty_file_has_no_header() {
        let mut r = CsvReader::new();
        r.feed(b"\n\n");
        r.feed(b"");
        let out = r.next_chunk(10).unwrap().unwrap();
        assert!(out.header.is_none() && out.finished);
        assert!(r.select(vec![0], vec![], None).is_err());
    }

    #[test]
    fn plain_numbers_are_parsed_and_anything_else_left_to_r() {
        let fields = |values: &[&str]| {
            let mut f = Fields::default();
            for v in values {
                f.push(v);
            }
            f
        };
        let parsed = fields(&["1", "-2.5", "+.5", "3.", "1e3", "2E-2", "NA", ""])
            .plain_numbers()
            .unwrap();
        assert_eq!(parsed[..6], [1.0, -2.5, 0.5, 3.0, 1000.0, 0.02]);
        assert!(parsed[6].is_nan() && parsed[7].is_nan());
        for other in [
            " 1", "1 ", "Inf", "nan", "0x1A", "1e", ".", "-", "1.2.3", "e5", "TRUE", "1,5",
        ] {
            assert!(fields(&["1", other]).plain_numbers().is_none(), "{other}");
        }
    }

    #[test]
    fn records_of_several_variables_are_reduced_per_group() {
        let text = b"g,u,v\na,1,10\nb,2,20\na,3,NA\na,5,14\n";
        let mut r = CsvReader::new();
        r.feed(text);
        r.feed(b"");
        r.next_chunk(10).unwrap().unwrap();
        r.select(vec![1, 2], vec![0], Some(2)).unwrap();
        let chunk = r.next_chunk(10).unwrap().unwrap();
        let column = |c: usize| -> Vec<f64> {
            chunk.fields[c]
                .iter()
                .map(|s| s.parse().unwrap_or(f64::NAN))
                .collect()
        };
        let values = [column(0), column(1)].concat();
        assert!(r.add(&values[..4]).is_err());
        r.add(&values).unwrap();
        let (_, GroupAccumulator::Variables(stats), lines) = r.groups() else {
            unreachable!("two variables per record were chosen")
        };
        // group a: rows (1, 10) and (5, 14); the row with NA is dropped
        assert_eq!(stats.n(), [2.0, 1.0]);
        assert_eq!(stats.mean_of(0), [3.0, 12.0]);
        assert_eq!(stats.cross_of(0)[..2], [8.0, 8.0]);
        assert_eq!(stats.cross_of(0)[3], 8.0);
        assert_eq!(lines, [2.0, 3.0]);
    }
}
