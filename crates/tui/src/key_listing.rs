//! `statesight-tui keys`: the console's bindings as a table or JSON — what a user checks
//! after editing `keys.toml` (a file the console cannot use is an error here, exit 2), and
//! what `make docs-check` compares the documentation with.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::{KeysArgs, OutputFormat};
use crate::console::keys::{Keymap, PROMPT_KEYS};
use crate::exit::{self, UsageError};
use crate::output::{Table, safe_json};

/// Prints the bindings in effect for `config_dir` (or the defaults).
pub fn run(args: &KeysArgs, config_dir: &Path) -> anyhow::Result<ExitCode> {
    let keymap = if args.defaults {
        Keymap::defaults()
    } else {
        match Keymap::load(config_dir) {
            (keymap, None) => keymap,
            (_, Some(error)) => return Err(UsageError(error).into()),
        }
    };
    let text = match args.output {
        OutputFormat::Json => format!("{}\n", safe_json(&as_json(&keymap))),
        OutputFormat::Table | OutputFormat::Wide => as_table(&keymap),
    };
    print!("{text}");
    Ok(exit::exit(exit::OK))
}

/// `{"bindings": [{section, action, keys, description}], "fixed": [{keys, description}]}`,
/// in the order the help lists them.
pub fn as_json(keymap: &Keymap) -> Value {
    let bindings: Vec<Value> = keymap
        .bindings()
        .iter()
        .map(|binding| {
            json!({
                "section": binding.scope.name(),
                "action": binding.action.name(),
                "keys": binding.keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "description": binding.description,
            })
        })
        .collect();
    let fixed: Vec<Value> = PROMPT_KEYS
        .iter()
        .map(|(keys, description)| {
            json!({
                "keys": keys.split(" / ").collect::<Vec<_>>(),
                "description": description,
            })
        })
        .collect();
    json!({ "bindings": bindings, "fixed": fixed })
}

fn as_table(keymap: &Keymap) -> String {
    let mut table = Table::new(vec!["SECTION", "ACTION", "KEYS", "WHAT IT DOES"]);
    for binding in keymap.bindings() {
        let keys: Vec<String> = binding.keys.iter().map(ToString::to_string).collect();
        table.row(vec![
            binding.scope.name().to_owned(),
            binding.action.name().to_owned(),
            if keys.is_empty() {
                String::from("(unbound)")
            } else {
                keys.join(", ")
            },
            binding.description.to_owned(),
        ]);
    }
    for (keys, description) in PROMPT_KEYS {
        table.row(vec![
            String::from("fixed"),
            String::from("-"),
            keys.replace(" / ", ", "),
            (*description).to_owned(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebound_key_is_listed_instead_of_the_default() {
        let keymap = Keymap::from_toml(
            "[global]\nquit = [\"ctrl-q\"]\n",
            Path::new("/home/op/.config/statesight/keys.toml"),
        )
        .expect("valid");
        let listed = as_json(&keymap);
        let quit = listed["bindings"]
            .as_array()
            .expect("bindings")
            .iter()
            .find(|binding| binding["section"] == "global" && binding["action"] == "quit")
            .expect("quit is listed");
        assert_eq!(quit["keys"], json!(["ctrl-q"]));
        let table = as_table(&keymap);
        let line = table
            .lines()
            .find(|line| line.starts_with("global") && line.contains(" quit "))
            .expect("a quit row");
        assert!(line.contains("ctrl-q"), "{line}");
        assert!(table.lines().any(|line| line.starts_with("fixed")));
    }
}
