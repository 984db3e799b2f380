//! The desired and live YAML of a finding compared line by line, for a unified or a
//! two-column view, and long lines wrapped by display cells.
//!
//! # Algorithm
//!
//! The common prefix and suffix are stripped first (the usual case: a few lines differ in
//! a long manifest), then Myers' greedy O(ND) algorithm finds a shortest edit script for the
//! middle. It keeps one frontier per edit distance d for the backtrack, O(D²) memory in all,
//! so D is capped at [`MAX_EDITS`]: beyond that (two unrelated 5,000-line values) the middle
//! is shown as all of desired removed, then all of live added — still a correct diff, just
//! not a minimal one — in O(N + M) time and memory. Time is O((N + M)·D) otherwise.
//!
//! The output is deterministic, and within each changed run every removed line comes
//! before every added line.

use super::text::chunk;

/// The largest edit distance (lines removed plus lines added, after the common prefix and
/// suffix) searched for a minimal diff: a backtrack trace of about 1,000² frontier entries,
/// 8 MB at most, and about ten million line comparisons on 5,000-line inputs.
pub const MAX_EDITS: usize = 1_000;

/// One line of a diff between desired (from Git) and live (from the cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    /// On both sides.
    Same(String),
    /// Desired only.
    Removed(String),
    /// Live only.
    Added(String),
}

/// The lines of `desired` and `live` in one column: unchanged lines once, each changed run
/// as its removed lines then its added lines.
pub fn unified(desired: &[String], live: &[String]) -> Vec<DiffLine> {
    let prefix = desired.iter().zip(live).take_while(|(a, b)| a == b).count();
    let suffix = desired[prefix..]
        .iter()
        .rev()
        .zip(live[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let middle_a = &desired[prefix..desired.len() - suffix];
    let middle_b = &live[prefix..live.len() - suffix];

    let mut out = Vec::with_capacity(desired.len().max(live.len()));
    out.extend(desired[..prefix].iter().cloned().map(DiffLine::Same));
    let edits = myers(middle_a, middle_b, MAX_EDITS).unwrap_or_else(|| {
        let removed = middle_a.iter().map(|_| Edit::Remove);
        removed.chain(middle_b.iter().map(|_| Edit::Add)).collect()
    });
    out.extend(lines_of(&edits, middle_a, middle_b));
    out.extend(
        desired[desired.len() - suffix..]
            .iter()
            .cloned()
            .map(DiffLine::Same),
    );
    removals_first(out)
}

/// The diff as rows of two columns (desired, live): an unchanged line on both sides, and
/// each changed run's removed and added lines paired row by row, the shorter side padded
/// with `None`.
pub fn side_by_side(
    desired: &[String],
    live: &[String],
) -> Vec<(Option<DiffLine>, Option<DiffLine>)> {
    let mut rows = Vec::new();
    let mut removed = Vec::new();
    let mut added = Vec::new();
    for line in unified(desired, live) {
        match line {
            DiffLine::Removed(_) => removed.push(line),
            DiffLine::Added(_) => added.push(line),
            DiffLine::Same(text) => {
                pair_run(&mut rows, &mut removed, &mut added);
                rows.push((
                    Some(DiffLine::Same(text.clone())),
                    Some(DiffLine::Same(text)),
                ));
            }
        }
    }
    pair_run(&mut rows, &mut removed, &mut added);
    rows
}

/// Appends one changed run as rows and empties its buffers.
fn pair_run(
    rows: &mut Vec<(Option<DiffLine>, Option<DiffLine>)>,
    removed: &mut Vec<DiffLine>,
    added: &mut Vec<DiffLine>,
) {
    let height = removed.len().max(added.len());
    let mut left = removed.drain(..);
    let mut right = added.drain(..);
    for _ in 0..height {
        rows.push((left.next(), right.next()));
    }
}

/// `line` cut into pieces of at most `width` display cells, so that a long value is
/// wrapped, never truncated. Breaks between graphemes (a wide character or a letter with
/// its combining marks is never split), anywhere in words, since values such as digests
/// and base64 have no spaces. Width 0 is treated as 1; a wide character wider than the
/// width gets a piece of its own. An empty line gives one empty piece.
pub fn wrap(line: &str, width: usize) -> Vec<String> {
    // `text::chunk` does exactly this, and guarantees at least one piece.
    chunk(line, width)
}

/// One step of an edit script, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Keep,
    Remove,
    Add,
}

/// The lines an edit script stands for.
fn lines_of<'a>(
    edits: &'a [Edit],
    a: &'a [String],
    b: &'a [String],
) -> impl Iterator<Item = DiffLine> + 'a {
    let (mut x, mut y) = (0usize, 0usize);
    edits.iter().filter_map(move |edit| match edit {
        Edit::Keep => {
            let line = a.get(x).cloned().map(DiffLine::Same);
            x += 1;
            y += 1;
            line
        }
        Edit::Remove => {
            let line = a.get(x).cloned().map(DiffLine::Removed);
            x += 1;
            line
        }
        Edit::Add => {
            let line = b.get(y).cloned().map(DiffLine::Added);
            y += 1;
            line
        }
    })
}

/// Reorders each run of changes so that its removals come before its additions (Myers may
/// interleave them); unchanged lines stay where they are.
fn removals_first(lines: Vec<DiffLine>) -> Vec<DiffLine> {
    let mut out = Vec::with_capacity(lines.len());
    let mut added = Vec::new();
    for line in lines {
        match line {
            DiffLine::Added(_) => added.push(line),
            DiffLine::Removed(_) => out.push(line),
            DiffLine::Same(_) => {
                out.append(&mut added);
                out.push(line);
            }
        }
    }
    out.append(&mut added);
    out
}

/// A shortest edit script from `a` to `b` (Myers 1986, the greedy forward algorithm with a
/// backtrack), or `None` when it needs more than `max_edits` removals plus additions.
fn myers(a: &[String], b: &[String], max_edits: usize) -> Option<Vec<Edit>> {
    let (n, m) = (a.len(), b.len());
    let max_d = max_edits.min(n + m);
    // Diagonal k = x - y lives at index k + offset; k ranges over -max_d..=max_d, and the
    // step reads k ± 1, hence the extra slot each side.
    let offset = max_d + 1;
    let mut v = vec![0usize; 2 * max_d + 3];
    // trace[d] is the frontier after step d - 1 on diagonals -d..=d (index k + d).
    let mut trace: Vec<Vec<usize>> = Vec::new();
    for d in 0..=max_d {
        trace.push(v[offset - d..=offset + d].to_vec());
        for k in (0..=2 * d).step_by(2) {
            // k runs over -d, -d + 2, …, d, stored shifted by `offset`.
            let index = offset - d + k;
            let down = k == 0 || (k != 2 * d && v[index - 1] < v[index + 1]);
            let mut x = if down { v[index + 1] } else { v[index - 1] + 1 };
            // y = x - k with k = index - offset; never negative on a reachable diagonal.
            let mut y = (x + offset).checked_sub(index)?;
            while x < n && y < m && a[x] == b[y] {
                x += 1;
                y += 1;
            }
            v[index] = x;
            if x >= n && y >= m {
                return Some(backtrack(&trace, n, m, d));
            }
        }
    }
    None
}

/// The edit script, from the frontiers recorded before each step.
fn backtrack(trace: &[Vec<usize>], n: usize, m: usize, edits: usize) -> Vec<Edit> {
    let mut script = Vec::with_capacity(n + m);
    let (mut x, mut y) = (n, m);
    for d in (1..=edits).rev() {
        let frontier = &trace[d];
        // The diagonal of (x, y), as an index into `frontier` (k + d).
        let index = x + d - y;
        let down = index == 0 || (index != 2 * d && frontier[index - 1] < frontier[index + 1]);
        let previous = if down { index + 1 } else { index - 1 };
        let previous_x = frontier[previous];
        let previous_y = previous_x + d - previous;
        // The snake of equal lines that followed the edit.
        while x > previous_x && y > previous_y {
            script.push(Edit::Keep);
            x -= 1;
            y -= 1;
        }
        script.push(if down { Edit::Add } else { Edit::Remove });
        x = previous_x;
        y = previous_y;
    }
    // Step 0 is a snake from the origin.
    script.extend(std::iter::repeat_n(Edit::Keep, x));
    script.reverse();
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::text::width;
    use crate::console::yaml::to_yaml_lines;
    use serde_json::json;

    fn lines(text: &str) -> Vec<String> {
        text.split_terminator('\n').map(str::to_owned).collect()
    }

    fn render(diff: &[DiffLine]) -> Vec<String> {
        diff.iter()
            .map(|line| match line {
                DiffLine::Same(text) => format!("  {text}"),
                DiffLine::Removed(text) => format!("- {text}"),
                DiffLine::Added(text) => format!("+ {text}"),
            })
            .collect()
    }

    fn side(row: &(Option<DiffLine>, Option<DiffLine>)) -> String {
        let cell = |line: &Option<DiffLine>| match line {
            Some(DiffLine::Same(text)) => format!(" {text}"),
            Some(DiffLine::Removed(text)) => format!("-{text}"),
            Some(DiffLine::Added(text)) => format!("+{text}"),
            None => String::from("."),
        };
        format!("{} | {}", cell(&row.0), cell(&row.1))
    }

    /// Applying the diff gives back both sides.
    fn check_consistent(desired: &[String], live: &[String]) {
        let diff = unified(desired, live);
        let left: Vec<&String> = diff
            .iter()
            .filter_map(|line| match line {
                DiffLine::Same(text) | DiffLine::Removed(text) => Some(text),
                DiffLine::Added(_) => None,
            })
            .collect();
        let right: Vec<&String> = diff
            .iter()
            .filter_map(|line| match line {
                DiffLine::Same(text) | DiffLine::Added(text) => Some(text),
                DiffLine::Removed(_) => None,
            })
            .collect();
        assert_eq!(left, desired.iter().collect::<Vec<_>>());
        assert_eq!(right, live.iter().collect::<Vec<_>>());
    }

    #[test]
    fn identical_values_have_no_changes() {
        let value = lines("a\nb\nc");
        assert_eq!(render(&unified(&value, &value)), vec!["  a", "  b", "  c"]);
        assert!(unified(&[], &[]).is_empty());
        assert!(side_by_side(&[], &[]).is_empty());
    }

    #[test]
    fn all_different() {
        let (a, b) = (lines("a\nb"), lines("x\ny\nz"));
        assert_eq!(
            render(&unified(&a, &b)),
            vec!["- a", "- b", "+ x", "+ y", "+ z"]
        );
        let rows: Vec<String> = side_by_side(&a, &b).iter().map(side).collect();
        assert_eq!(rows, vec!["-a | +x", "-b | +y", ". | +z"]);
    }

    #[test]
    fn insertion_in_the_middle() {
        let a = lines("spec:\n  replicas: 3\n  paused: false");
        let b = lines("spec:\n  replicas: 3\n  minReadySeconds: 5\n  paused: false");
        assert_eq!(
            render(&unified(&a, &b)),
            vec![
                "  spec:",
                "    replicas: 3",
                "+   minReadySeconds: 5",
                "    paused: false"
            ]
        );
        let rows: Vec<String> = side_by_side(&a, &b).iter().map(side).collect();
        assert_eq!(
            rows,
            vec![
                " spec: |  spec:",
                "   replicas: 3 |    replicas: 3",
                ". | +  minReadySeconds: 5",
                "   paused: false |    paused: false",
            ]
        );
    }

    #[test]
    fn changes_pair_up_side_by_side() {
        let a = lines("a\nb\nc\nd\ne");
        let b = lines("a\nB\nc\nD1\nD2\ne");
        assert_eq!(
            render(&unified(&a, &b)),
            vec!["  a", "- b", "+ B", "  c", "- d", "+ D1", "+ D2", "  e"]
        );
        let rows: Vec<String> = side_by_side(&a, &b).iter().map(side).collect();
        assert_eq!(
            rows,
            vec![
                " a |  a", "-b | +B", " c |  c", "-d | +D1", ". | +D2", " e |  e"
            ]
        );
    }

    #[test]
    fn diff_is_minimal_on_interleaved_changes() {
        // The classic example from Myers' paper: ABCABBA -> CBABAC, 5 edits.
        let a: Vec<String> = "ABCABBA".chars().map(String::from).collect();
        let b: Vec<String> = "CBABAC".chars().map(String::from).collect();
        let diff = unified(&a, &b);
        let changes = diff
            .iter()
            .filter(|line| !matches!(line, DiffLine::Same(_)))
            .count();
        assert_eq!(changes, 5);
        check_consistent(&a, &b);
    }

    /// The length of a longest common subsequence, by the textbook table.
    fn lcs(a: &[String], b: &[String]) -> usize {
        let mut table = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in 0..a.len() {
            for j in 0..b.len() {
                table[i + 1][j + 1] = if a[i] == b[j] {
                    table[i][j] + 1
                } else {
                    table[i][j + 1].max(table[i + 1][j])
                };
            }
        }
        table[a.len()][b.len()]
    }

    #[test]
    fn diffs_are_minimal_and_consistent_on_random_inputs() {
        // A small deterministic generator (xorshift): lines from a 4-word alphabet, so
        // that there are many equal lines to match up.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut make = || -> Vec<String> {
            let len = next() % 12;
            (0..len).map(|_| format!("w{}", next() % 4)).collect()
        };
        for _ in 0..300 {
            let a = make();
            let b = make();
            check_consistent(&a, &b);
            let same = unified(&a, &b)
                .iter()
                .filter(|line| matches!(line, DiffLine::Same(_)))
                .count();
            assert_eq!(same, lcs(&a, &b), "{a:?} -> {b:?}");
        }
    }

    #[test]
    fn absent_versus_a_value() {
        let absent = to_yaml_lines(None);
        let value = to_yaml_lines(Some(&json!({"data": {"key": "v"}})));
        assert_eq!(
            render(&unified(&absent, &value)),
            vec!["- (absent)", "+ data:", "+   key: v"]
        );
        assert_eq!(
            render(&unified(&value, &absent)),
            vec!["- data:", "-   key: v", "+ (absent)"]
        );
    }

    #[test]
    fn many_scattered_changes_stay_consistent() {
        let a: Vec<String> = (0..300).map(|i| format!("line {i}")).collect();
        let b: Vec<String> = (0..300)
            .filter(|i| i % 7 != 0)
            .map(|i| {
                if i % 5 == 0 {
                    format!("changed {i}")
                } else {
                    format!("line {i}")
                }
            })
            .collect();
        check_consistent(&a, &b);
        check_consistent(&b, &a);
        check_consistent(&a, &[]);
        check_consistent(&[], &a);
    }

    #[test]
    fn huge_unrelated_values_fall_back_to_remove_then_add() {
        let a: Vec<String> = (0..5_000).map(|i| format!("a{i}")).collect();
        let b: Vec<String> = (0..5_000).map(|i| format!("b{i}")).collect();
        let mut desired = vec![String::from("kind: ConfigMap")];
        desired.extend(a);
        let mut live = vec![String::from("kind: ConfigMap")];
        live.extend(b);
        let diff = unified(&desired, &live);
        assert_eq!(diff.len(), 10_001);
        assert_eq!(diff[0], DiffLine::Same(String::from("kind: ConfigMap")));
        assert!(matches!(&diff[1], DiffLine::Removed(text) if text == "a0"));
        assert!(matches!(&diff[5_001], DiffLine::Added(text) if text == "b0"));
        check_consistent(&desired, &live);
        assert_eq!(side_by_side(&desired, &live).len(), 5_001);
    }

    #[test]
    fn wrap_by_cells_never_splits_wide_characters() {
        assert_eq!(wrap("abcdefg", 3), vec!["abc", "def", "g"]);
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(wrap("short", 10), vec!["short"]);
        // 你 is two cells: three fit in 7 cells (6), not four.
        assert_eq!(wrap("你好世界和平", 7), vec!["你好世", "界和平"]);
        assert_eq!(wrap("a你b", 2), vec!["a", "你", "b"]);
        for piece in wrap("sha256:9f86d081884c7d659a2f日本語テキスト", 5) {
            assert!(width(&piece) <= 5, "{piece:?}");
        }
        // Combining marks stay with their letter.
        assert_eq!(wrap("e\u{301}e\u{301}", 1), vec!["e\u{301}", "e\u{301}"]);
        // Width 0 terminates, one grapheme per piece; a wide character wider than the width
        // still gets its own piece rather than being dropped.
        assert_eq!(wrap("ab", 0), vec!["a", "b"]);
        assert_eq!(wrap("你", 1), vec!["你"]);
        // Nothing is lost.
        let long = "x".repeat(1000);
        assert_eq!(wrap(&long, 80).concat(), long);
    }
}
