//! `docs/console.md` documents the keys the code binds.

use statesight_tui::console::keys::defaults_markdown;

const BEGIN: &str =
    "<!-- keys:begin (generated from crates/tui/src/console/keys.rs; a test checks it) -->\n";
const END: &str = "<!-- keys:end -->";

#[test]
fn the_docs_key_table_matches_the_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console.md");
    let doc = std::fs::read_to_string(&path).expect("docs/console.md");
    let start = doc.find(BEGIN).expect("the keys:begin marker") + BEGIN.len();
    let end = doc.find(END).expect("the keys:end marker");
    let expected = defaults_markdown();
    if doc[start..end] != expected {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{expected}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, updated).expect("writing docs/console.md");
            return;
        }
        panic!(
            "docs/console.md's key table differs from the code; run with UPDATE_DOCS=1 to \
             regenerate it. Expected:\n{expected}"
        );
    }
}
