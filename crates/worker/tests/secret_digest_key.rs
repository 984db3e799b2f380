//! The Secret digest key through the real binary: `run` refuses to start without one or with
//! a malformed one (saying what to set, never echoing the key), and `diff` digests with the
//! key when given one and says on standard error when it falls back to unkeyed digests.

use std::path::Path;
use std::process::{Command, Output};

const MATERIAL: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

/// `statesight-worker run` with only the given key variables, in an empty directory (no
/// `.env` to pick one up). The database is unreachable on purpose: a key problem must be
/// reported before anything is connected.
fn run_with(dir: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_statesight-worker"))
        .arg("run")
        .current_dir(dir)
        .env_remove("SECRET_DIGEST_KEY")
        .env_remove("SECRET_DIGEST_KEY_FILE")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("WORKER_METRICS_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .output()
        .expect("running the worker")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn run_refuses_to_start_without_a_digest_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = run_with(dir.path(), &[]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("no Secret digest key"), "{text}");
    assert!(text.contains("SECRET_DIGEST_KEY=<key-id>:<hex"), "{text}");
    assert!(text.contains("SECRET_DIGEST_KEY_FILE"), "{text}");
    assert!(
        text.contains(r#"echo "k1:$(openssl rand -hex 32)""#),
        "{text}"
    );
    assert!(
        !text.contains("PostgreSQL"),
        "the key is checked first: {text}"
    );
}

#[test]
fn run_refuses_a_malformed_digest_key_without_echoing_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let short = format!("k1:{}", &MATERIAL[..30]);
    let no_id = MATERIAL.to_owned();
    let bad_id = format!("Prod_Key:{MATERIAL}");
    let not_hex = format!("k1:{}zz", &MATERIAL[..62]);
    for (key, reason) in [
        (short.as_str(), "at least 32 are needed"),
        (no_id.as_str(), "no key id"),
        (bad_id.as_str(), "key id must be"),
        (not_hex.as_str(), "not hexadecimal"),
    ] {
        let output = run_with(dir.path(), &[("SECRET_DIGEST_KEY", key)]);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{key}: {text}");
        assert!(text.contains("SECRET_DIGEST_KEY is malformed"), "{text}");
        assert!(text.contains(reason), "{text}");
        assert!(
            !text.contains("c0ffee"),
            "key material in the message: {text}"
        );
    }

    let file = dir.path().join("digest-key");
    std::fs::write(&file, "k1:abc\n").expect("write key file");
    let output = run_with(
        dir.path(),
        &[("SECRET_DIGEST_KEY_FILE", file.to_str().expect("utf-8 path"))],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("SECRET_DIGEST_KEY_FILE") && text.contains("malformed"),
        "{text}"
    );

    let missing = dir.path().join("absent");
    let output = run_with(
        dir.path(),
        &[(
            "SECRET_DIGEST_KEY_FILE",
            missing.to_str().expect("utf-8 path"),
        )],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("reading SECRET_DIGEST_KEY_FILE"));
}

/// A drifted Secret and the `diff` of it with the given extra arguments and environment.
fn diff_secret(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Output, serde_json::Value) {
    let desired = dir.join("desired.yaml");
    let live = dir.join("live.yaml");
    std::fs::write(
        &desired,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\nstringData:\n  password: hunter2\n",
    )
    .expect("desired");
    std::fs::write(
        &live,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\ndata:\n  password: aHVudGVyMw==\n",
    )
    .expect("live");
    let output = Command::new(env!("CARGO_BIN_EXE_statesight-worker"))
        .current_dir(dir)
        .env_remove("SECRET_DIGEST_KEY")
        .env_remove("SECRET_DIGEST_KEY_FILE")
        .envs(env.iter().copied())
        .args(["diff", "--format", "json", "--desired"])
        .arg(&desired)
        .arg("--live")
        .arg(&live)
        .args(extra)
        .output()
        .expect("running diff");
    let report = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output, report)
}

#[test]
fn diff_uses_the_key_when_given_and_says_when_it_falls_back() {
    let dir = tempfile::tempdir().expect("temp dir");

    let (output, report) = diff_secret(dir.path(), &[], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("note: no Secret digest key")
            && stderr(&output).contains("unkeyed sha256"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        report["secret_digest"],
        serde_json::json!({"scheme": "sha256", "key_id": null})
    );
    let finding = &report["findings"][0];
    assert!(
        finding["desired"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{finding}"
    );

    let key_file = dir.path().join("digest-key");
    std::fs::write(&key_file, format!("k9:{MATERIAL}\n")).expect("key file");
    let key_path = key_file.to_str().expect("utf-8 path");
    let (output, by_file) = diff_secret(dir.path(), &["--secret-digest-key-file", key_path], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        !stderr(&output).contains("no Secret digest key"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        by_file["secret_digest"],
        serde_json::json!({"scheme": "hmac-sha256", "key_id": "k9"})
    );
    let finding = &by_file["findings"][0];
    for side in ["desired", "live"] {
        assert!(
            finding[side]
                .as_str()
                .is_some_and(|d| d.starts_with("hmac-sha256:k9:")),
            "{finding}"
        );
    }
    assert!(!by_file.to_string().contains("hunter"));

    // The environment variable gives the same digests as the file.
    let (_, by_env) = diff_secret(
        dir.path(),
        &[],
        &[("SECRET_DIGEST_KEY", &format!("k9:{MATERIAL}"))],
    );
    assert_eq!(by_env["findings"], by_file["findings"]);

    let (output, _) = diff_secret(dir.path(), &[], &[("SECRET_DIGEST_KEY", "k9:00")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("SECRET_DIGEST_KEY is malformed"));
}
