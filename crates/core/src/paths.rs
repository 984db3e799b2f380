//! Drift paths: the typed form ([`DriftPath`], a list of [`Segment`]s), its printer
//! (`Display`) and its parser ([`parse`]), following the grammar in
//! docs/drift-semantics.md#drift-paths. The same text is used in findings, ignore rules and
//! evidence, so print and parse must round-trip.
//!
//! Keys of string maps (labels, annotations, data, …) are printed verbatim as the rest of the
//! path; which maps count as string maps depends on the segments around them, and both the
//! printer and the parser decide it with [`string_map_context`].

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use crate::error::{Error, Result, SyntaxError};

/// One step of a drift path.
#[derive(Debug, Clone)]
pub enum Segment {
    /// An object field or a map key (`.name`, `["a.b"]`, or a verbatim string-map key).
    Field(String),
    /// An item of a keyed list, `[name=api]`, `[containerPort=53,protocol=UDP]`. Keys are
    /// sorted by name and `protocol=TCP` is left out. `desired_index` is the item's position in
    /// the desired list (so rules written `[N]` match it); it is not printed and does not take
    /// part in comparisons.
    Keyed {
        keys: Vec<(String, String)>,
        desired_index: Option<usize>,
    },
    /// An item of an unkeyed list, `[N]`.
    Index(usize),
    /// Rules only: `*`, any one map key or field.
    AnyKey,
    /// Rules only: `[*]`, any list item.
    AnyItem,
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Field(_) => 0,
            Segment::Keyed { .. } => 1,
            Segment::Index(_) => 2,
            Segment::AnyKey => 3,
            Segment::AnyItem => 4,
        }
    }

    /// Builds a keyed segment in canonical form (sorted keys, `protocol=TCP` dropped when
    /// other keys remain).
    pub fn keyed(mut keys: Vec<(String, String)>, desired_index: Option<usize>) -> Segment {
        keys.sort();
        if keys.len() > 1 {
            keys.retain(|(k, v)| !(k == "protocol" && v == "TCP"));
        }
        Segment::Keyed {
            keys,
            desired_index,
        }
    }

    fn field_name(&self) -> Option<&str> {
        match self {
            Segment::Field(name) => Some(name),
            _ => None,
        }
    }
}

impl PartialEq for Segment {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Segment {}
impl PartialOrd for Segment {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Segment {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Segment::Field(a), Segment::Field(b)) => a.cmp(b),
            (Segment::Keyed { keys: a, .. }, Segment::Keyed { keys: b, .. }) => a.cmp(b),
            (Segment::Index(a), Segment::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
impl std::hash::Hash for Segment {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Segment::Field(a) => a.hash(state),
            Segment::Keyed { keys, .. } => keys.hash(state),
            Segment::Index(i) => i.hash(state),
            Segment::AnyKey | Segment::AnyItem => {}
        }
    }
}

/// A path into an object; empty means the whole resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriftPath {
    pub segments: Vec<Segment>,
}

impl DriftPath {
    pub fn new(segments: Vec<Segment>) -> Self {
        DriftPath { segments }
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Whether this path, used as a rule, matches a finding at `finding` or beneath it.
    /// `[N]` matches the N-th item of an unkeyed list and the N-th desired item of a keyed one.
    pub fn matches(&self, finding: &DriftPath) -> bool {
        self.verdict(finding, Positions::Known) == Verdict::Match
    }

    /// [`DriftPath::matches`] for a finding path that may have been read back from its text,
    /// which does not carry the desired positions of keyed list items: a rule's `[N]`
    /// against such an item is then [`Verdict::DependsOnPosition`], never a guess.
    pub fn verdict(&self, finding: &DriftPath, positions: Positions) -> Verdict {
        if self.segments.len() > finding.segments.len() {
            return Verdict::NoMatch;
        }
        let mut verdict = Verdict::Match;
        for (rule, seg) in self.segments.iter().zip(&finding.segments) {
            match segment_verdict(rule, seg, positions) {
                Verdict::NoMatch => return Verdict::NoMatch,
                Verdict::DependsOnPosition => verdict = Verdict::DependsOnPosition,
                Verdict::Match => {}
            }
        }
        verdict
    }

    /// Whether the path contains a wildcard.
    pub fn has_wildcard(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::AnyKey | Segment::AnyItem))
    }

    /// The field names of the path, in order (keys and indexes skipped).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(Segment::field_name)
    }

    /// The last field name, if the path ends in a field.
    pub fn last_field(&self) -> Option<&str> {
        self.segments.last().and_then(Segment::field_name)
    }
}

/// Whether a finding path's keyed list items carry their desired positions: the engine's
/// own paths do (`None` there means the item is not in Git at all); a path parsed from a
/// finding's text does not know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    Known,
    Unknown,
}

/// Whether a rule path matches a finding path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match,
    NoMatch,
    /// The rule's `[N]` meets a keyed list item whose position in Git is not known here:
    /// only an analysis, which reads Git, decides.
    DependsOnPosition,
}

impl From<bool> for Verdict {
    fn from(matches: bool) -> Verdict {
        if matches {
            Verdict::Match
        } else {
            Verdict::NoMatch
        }
    }
}

fn segment_verdict(rule: &Segment, seg: &Segment, positions: Positions) -> Verdict {
    match (rule, seg) {
        (Segment::AnyKey, Segment::Field(_)) => Verdict::Match,
        (Segment::AnyItem, Segment::Keyed { .. } | Segment::Index(_)) => Verdict::Match,
        (Segment::Index(n), Segment::Index(m)) => (n == m).into(),
        (
            Segment::Index(n),
            Segment::Keyed {
                desired_index: Some(m),
                ..
            },
        ) => (n == m).into(),
        (
            Segment::Index(_),
            Segment::Keyed {
                desired_index: None,
                ..
            },
        ) if positions == Positions::Unknown => Verdict::DependsOnPosition,
        (Segment::Keyed { keys: a, .. }, Segment::Keyed { keys: b, .. }) => (a == b).into(),
        (Segment::Field(a), Segment::Field(b)) => (a == b).into(),
        _ => Verdict::NoMatch,
    }
}

/// Whether the segment following `prev` is a key of a string map, printed verbatim.
/// `next_is_selector_field` tells, for `selector`, whether what follows is `matchLabels` or
/// `matchExpressions` (a LabelSelector rather than a Service's plain selector map).
pub fn string_map_context(prev: &[Segment], next_is_selector_field: bool) -> bool {
    let name = |back: usize| {
        prev.len()
            .checked_sub(back)
            .and_then(|i| prev[i].field_name())
    };
    string_map_rule(prev.len(), name(1), name(2), next_is_selector_field)
}

/// [`string_map_context`] on the parts that decide it: the number of preceding segments, the
/// last one's field name and the one before it.
pub fn string_map_rule(
    depth: usize,
    last: Option<&str>,
    before: Option<&str>,
    next_is_selector_field: bool,
) -> bool {
    match last {
        Some("labels" | "annotations") => before == Some("metadata"),
        Some("matchLabels" | "nodeSelector") => true,
        Some("selector") => !next_is_selector_field,
        Some("data" | "binaryData" | "stringData") => depth == 1,
        Some("requests" | "limits") => before == Some("resources"),
        _ => false,
    }
}

fn is_selector_field(name: &str) -> bool {
    name == "matchLabels" || name == "matchExpressions"
}

/// `text` starts with `matchLabels`/`matchExpressions` followed by the end, `.` or `[`.
fn starts_with_selector_field(text: &str) -> bool {
    ["matchLabels", "matchExpressions"].iter().any(|f| {
        text.strip_prefix(f)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    })
}

/// `text` is `*` or starts with `*.` or `*[`.
fn starts_with_wildcard(text: &str) -> bool {
    text.strip_prefix('*')
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Whether a string-map key at the end of a path can be printed verbatim: the parser must read
/// it back as one key (not empty, not a wildcard, no surrounding spaces, not taken for a
/// bracket or for a LabelSelector field).
fn verbatim_key_ok(name: &str, after_selector: bool) -> bool {
    if name.is_empty() || starts_with_wildcard(name) || name.trim() != name || name.starts_with('[')
    {
        return false;
    }
    !(after_selector && starts_with_selector_field(name))
}

fn is_bare_field(name: &str) -> bool {
    !name.is_empty()
        && name != "*"
        && !name
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"') || c.is_whitespace() || c.is_control())
}

fn is_bare_key_value(value: &str) -> bool {
    !value.is_empty()
        && !value.chars().any(|c| {
            matches!(c, ',' | ']' | '[' | '=' | '"') || c.is_whitespace() || c.is_control()
        })
}

fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    match serde_json::to_string(text) {
        Ok(quoted) => f.write_str(&quoted),
        Err(_) => Err(fmt::Error),
    }
}

impl fmt::Display for DriftPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            let prev = &self.segments[..i];
            match seg {
                Segment::Field(name) => {
                    let is_last = i + 1 == self.segments.len();
                    if string_map_context(prev, is_selector_field(name)) {
                        let after_selector =
                            prev.last().and_then(Segment::field_name) == Some("selector");
                        if is_last && verbatim_key_ok(name, after_selector) {
                            f.write_char('.')?;
                            f.write_str(name)?;
                        } else {
                            f.write_char('[')?;
                            write_quoted(f, name)?;
                            f.write_char(']')?;
                        }
                    } else if is_bare_field(name) {
                        if i > 0 {
                            f.write_char('.')?;
                        }
                        f.write_str(name)?;
                    } else {
                        f.write_char('[')?;
                        write_quoted(f, name)?;
                        f.write_char(']')?;
                    }
                }
                Segment::Keyed { keys, .. } => {
                    f.write_char('[')?;
                    for (n, (k, v)) in keys.iter().enumerate() {
                        if n > 0 {
                            f.write_char(',')?;
                        }
                        f.write_str(k)?;
                        f.write_char('=')?;
                        if is_bare_key_value(v) {
                            f.write_str(v)?;
                        } else {
                            write_quoted(f, v)?;
                        }
                    }
                    f.write_char(']')?;
                }
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::AnyKey => {
                    if i > 0 {
                        f.write_char('.')?;
                    }
                    f.write_char('*')?;
                }
                Segment::AnyItem => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl serde::Serialize for DriftPath {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::str::FromStr for DriftPath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        parse(s)
    }
}

/// Parses a drift path. Surrounding whitespace is ignored; the empty path is the whole
/// resource. Errors carry the byte offset (into `input`) of the offending character.
pub fn parse(input: &str) -> Result<DriftPath> {
    let start = input.len() - input.trim_start().len();
    let text = input.trim();
    Parser {
        text,
        base: start,
        input,
        pos: 0,
        segments: Vec::new(),
    }
    .run()
    .map_err(|error| Error::InvalidPath {
        input: input.to_owned(),
        error,
    })
}

struct Parser<'t> {
    input: &'t str,
    text: &'t str,
    base: usize,
    pos: usize,
    segments: Vec<Segment>,
}

impl<'t> Parser<'t> {
    fn err(&self, at: usize, expected: &'static str) -> SyntaxError {
        SyntaxError::at(self.input, self.base + at, expected)
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn run(mut self) -> std::result::Result<DriftPath, SyntaxError> {
        if self.text.is_empty() {
            return Ok(DriftPath::default());
        }
        while self.pos < self.text.len() {
            let first = self.segments.is_empty();
            let rest = &self.text[self.pos..];
            let lookahead_selector = rest
                .strip_prefix('.')
                .is_some_and(starts_with_selector_field);
            let in_string_map = string_map_context(&self.segments, lookahead_selector);
            match self.peek() {
                Some('[') => self.bracket()?,
                Some('.') if !first => {
                    self.pos += 1;
                    if in_string_map {
                        let key = &self.text[self.pos..];
                        if key.is_empty() {
                            return Err(self.err(self.pos, "a map key"));
                        }
                        if starts_with_wildcard(key) {
                            // `*` stands for any key, and more of the path may follow it.
                            self.segments.push(Segment::AnyKey);
                            self.pos += 1;
                        } else {
                            self.segments.push(Segment::Field(key.to_owned()));
                            self.pos = self.text.len();
                        }
                    } else {
                        self.bare_field()?;
                    }
                }
                Some(_) if first => self.bare_field()?,
                _ => return Err(self.err(self.pos, "`.` or `[`")),
            }
        }
        Ok(DriftPath {
            segments: self.segments,
        })
    }

    fn bare_field(&mut self) -> std::result::Result<(), SyntaxError> {
        let start = self.pos;
        for (i, c) in self.text[start..].char_indices() {
            match c {
                '.' | '[' => break,
                ']' | '"' => {
                    return Err(self.err(
                        start + i,
                        "a field name character (quote the name as [\"…\"])",
                    ));
                }
                c if c.is_whitespace() || c.is_control() => {
                    return Err(self.err(
                        start + i,
                        "a field name character (quote the name as [\"…\"])",
                    ));
                }
                _ => self.pos = start + i + c.len_utf8(),
            }
        }
        if self.pos == start {
            return Err(self.err(start, "a field name"));
        }
        let name = &self.text[start..self.pos];
        self.segments.push(if name == "*" {
            Segment::AnyKey
        } else {
            Segment::Field(name.to_owned())
        });
        Ok(())
    }

    fn quoted(&mut self) -> std::result::Result<String, SyntaxError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    let literal = &self.text[start..=i];
                    return match serde_json::from_str::<String>(literal) {
                        Ok(s) => {
                            self.pos = i + 1;
                            Ok(s)
                        }
                        Err(_) => Err(self.err(start, "a valid JSON string")),
                    };
                }
                _ => i += 1,
            }
        }
        Err(self.err(self.text.len(), "a closing `\"`"))
    }

    fn expect(&mut self, c: char, expected: &'static str) -> std::result::Result<(), SyntaxError> {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(self.err(self.pos, expected))
        }
    }

    fn bracket(&mut self) -> std::result::Result<(), SyntaxError> {
        self.pos += 1; // `[`
        match self.peek() {
            Some('*') => {
                self.pos += 1;
                self.expect(']', "`]` after `[*`")?;
                self.segments.push(Segment::AnyItem);
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let index = self.text[start..self.pos]
                    .parse::<usize>()
                    .map_err(|_| self.err(start, "a smaller index"))?;
                self.expect(']', "`]` after an index")?;
                self.segments.push(Segment::Index(index));
            }
            Some('"') => {
                let name = self.quoted()?;
                self.expect(']', "`]` after a quoted name")?;
                self.segments.push(Segment::Field(name));
            }
            Some(_) => self.keyed()?,
            None => return Err(self.err(self.pos, "`*`, an index, a quoted name or key=value")),
        }
        Ok(())
    }

    fn keyed(&mut self) -> std::result::Result<(), SyntaxError> {
        let mut keys: Vec<(String, String)> = Vec::new();
        loop {
            let key_start = self.pos;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                self.pos += 1;
            }
            if self.pos == key_start {
                return Err(self.err(self.pos, "a key name (letters, digits, `_`, `-`)"));
            }
            let key = self.text[key_start..self.pos].to_owned();
            if keys.iter().any(|(k, _)| *k == key) {
                return Err(self.err(key_start, "a key not already given"));
            }
            self.expect('=', "`=` after a key name")?;
            let value = if self.peek() == Some('"') {
                self.quoted()?
            } else {
                let start = self.pos;
                while self.peek().is_some_and(|c| {
                    !matches!(c, ',' | ']' | '[' | '=' | '"')
                        && !c.is_whitespace()
                        && !c.is_control()
                }) {
                    self.pos += self.peek().map_or(1, char::len_utf8);
                }
                if self.pos == start {
                    return Err(self.err(
                        self.pos,
                        "a key value (quote it as \"…\" if empty or special)",
                    ));
                }
                self.text[start..self.pos].to_owned()
            };
            keys.push((key, value));
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.err(self.pos, "`,` or `]` after a key value")),
            }
        }
        self.segments.push(Segment::keyed(keys, None));
        Ok(())
    }
}
