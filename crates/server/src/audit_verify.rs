//! `statesight-server admin audit verify`: the audit chain checked end to end, and
//! optionally against an anchor kept outside the database.

use anyhow::{Context, bail};
use sqlx::PgPool;

use crate::admin::Output;

/// An entry's position and hash, as `SEQ:HASH` (hex).
fn parse_anchor(text: &str) -> anyhow::Result<(i64, [u8; 32])> {
    let (seq, hash) = text
        .split_once(':')
        .context("--anchor must be SEQ:HASH, e.g. 42:3f1c…(64 hex digits)")?;
    let seq: i64 = seq
        .trim()
        .parse()
        .ok()
        .filter(|seq| *seq > 0)
        .context("--anchor: SEQ must be a positive entry number")?;
    let bytes = hex::decode(hash.trim()).context("--anchor: HASH must be hex")?;
    let hash: [u8; 32] = bytes
        .try_into()
        .ok()
        .context("--anchor: HASH must be 64 hex digits (SHA-256)")?;
    Ok((seq, hash))
}

pub async fn run(pool: &PgPool, anchor: Option<&str>, output: Output) -> anyhow::Result<()> {
    let anchor = anchor.map(parse_anchor).transpose()?;
    let verification = statesight_store::audit::verify(pool)
        .await
        .context("reading the audit log (is DATABASE_URL right?)")?;
    let anchor_problem = match anchor {
        Some((seq, expected)) if verification.broken.is_none() => {
            match statesight_store::audit::hash_at(pool, seq).await? {
                Some(found) if found == expected => None,
                Some(_) => Some(format!(
                    "entry {seq} is not the one anchored: its hash differs, so the log was \
                     rewritten from there or before"
                )),
                None => Some(format!(
                    "entry {seq} is anchored but the log has no such entry: it was cut short"
                )),
            }
        }
        _ => None,
    };
    let head = verification
        .head
        .map(|(seq, hash)| (seq, hex::encode(hash)));
    match output {
        Output::Json => println!(
            "{}",
            serde_json::json!({
                "valid": verification.broken.is_none() && anchor_problem.is_none(),
                "checked": verification.checked,
                "unsealed": verification.unsealed,
                "head": head.as_ref().map(|(seq, hash)| serde_json::json!({"seq": seq, "hash": hash})),
                "problem": verification.broken.as_ref().map(ToString::to_string).or(anchor_problem.clone()),
            })
        ),
        Output::Table => {
            println!("entries checked: {}", verification.checked);
            if verification.unsealed > 0 {
                println!(
                    "entries written before the chain and not chained yet: {} (run `statesight-server migrate`)",
                    verification.unsealed
                );
            }
            if let Some((seq, hash)) = &head {
                println!("head: {seq}:{hash}");
            }
        }
    }
    if let Some(broken) = verification.broken {
        bail!("the audit log was tampered with: {broken}");
    }
    if let Some(problem) = anchor_problem {
        bail!("the audit log was tampered with: {problem}");
    }
    if output == Output::Table {
        println!("the audit chain is intact");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_parsed_strictly() {
        let hash = "ab".repeat(32);
        assert_eq!(parse_anchor(&format!("7:{hash}")).expect("valid").0, 7);
        for bad in [
            "7",
            "x:ab",
            "0:ab",
            &format!("7:{}", "ab".repeat(31)),
            "7:zz",
        ] {
            assert!(parse_anchor(bad).is_err(), "{bad}");
        }
    }
}
