//! `statesight-server admin …`: provisioning (users, workspaces, memberships, identities)
//! and the demo's seed and analyses. Provisioning works on the database directly, so the
//! first admin can be created before anyone can sign in.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use sqlx::PgPool;
use statesight_core::wire::Role;
use statesight_store::provisioning::{self, MembershipChange};

use crate::config::{DatabaseArgs, InputArgs};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Users: people, and machine clients that sign in with the client-credentials grant.
    #[command(subcommand)]
    User(UserCommand),
    /// Workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Who belongs to which workspace, with which role (viewer, editor, admin).
    #[command(subcommand)]
    Member(MemberCommand),
    /// OIDC identities `(issuer, subject)` and the user each signs in as.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// The operator audit log's hash chain.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Kubernetes audit events of a cluster (the webhook route receives them live).
    #[command(subcommand, name = "k8s-audit")]
    K8sAudit(K8sAuditCommand),
    /// Insert the demo workspaces, users, clusters, sources, applications and ignore rules,
    /// and build each example's Git repository. Idempotent: a second run changes nothing.
    /// Writes no analysis results: `admin analyse-examples` has the worker produce them.
    Seed {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Directory holding the examples (`<application>/history`, cluster snapshots).
        #[arg(long, default_value = "examples")]
        examples_dir: PathBuf,
        /// Where the example Git repositories are built (`<data dir>/repos`).
        #[arg(long, env = "STATESIGHT_DATA_DIR", default_value = ".data")]
        data_dir: PathBuf,
        /// The git executable.
        #[arg(long, env = "GIT_BIN", default_value = "git")]
        git_bin: PathBuf,
        /// The examples use `file://` repositories and snapshots under the examples
        /// directory: the same settings the server and worker must be given.
        #[command(flatten)]
        inputs: InputArgs,
    },
    /// Request the demo analyses of the seeded examples through the queue (as the API does)
    /// and wait until a running `statesight-worker` has finished them, oldest revision first.
    AnalyseExamples {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Redis connection URL (the analysis queue).
        #[arg(
            long,
            env = "REDIS_URL",
            default_value = "redis://127.0.0.1:6379",
            hide_env_values = true
        )]
        redis_url: String,
        /// Prefix of every Redis key (the worker's must match).
        #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "statesight")]
        redis_key_prefix: String,
        /// How long to wait for all analyses, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
}

/// How list commands print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    #[default]
    Table,
    /// A JSON array for scripts.
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. Prints its id.
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Unique; for a machine client, the address of the team that owns it.
        #[arg(long)]
        email: String,
        /// How the user is shown (e.g. "Ada Lovelace", "CI deploy pipeline").
        #[arg(long)]
        name: String,
    },
    /// List users by email.
    List(ListArgs),
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Add a workspace. Prints its id.
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        name: String,
    },
    /// List workspaces by name, with their member counts.
    List(ListArgs),
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Make a user a member of a workspace with a role, or change their role.
    Set {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Workspace name or id.
        #[arg(long)]
        workspace: String,
        /// User email or id.
        #[arg(long)]
        user: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Remove a user from a workspace.
    Remove {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        user: String,
    },
    /// List memberships, of one workspace or of all.
    List {
        #[command(flatten)]
        list: ListArgs,
        /// Workspace name or id.
        #[arg(long)]
        workspace: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Let a verified OIDC identity sign in as a user. `--issuer` and `--subject` are
    /// compared byte for byte with the token's `iss` and `sub` (the 403
    /// `identity_not_provisioned` answer shows both).
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        subject: String,
        /// User email or id.
        #[arg(long)]
        user: String,
    },
    /// Stop an identity from signing in.
    Remove {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        subject: String,
    },
    /// List identities, of one user or of all.
    List {
        #[command(flatten)]
        list: ListArgs,
        /// User email or id.
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry of the audit log against the chain: names the first entry that was
    /// edited, deleted or inserted (exit 1), else prints the chain's head — its position and
    /// hash — to keep somewhere else (exit 0).
    Verify {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Also require the chain to hold this entry, as `SEQ:HASH` from an earlier
        /// verification or from the server's `audit entry appended` log lines: a log
        /// rewritten from scratch, or cut short, no longer holds it.
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Option<String>,
        #[arg(long, short = 'o', value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum K8sAuditCommand {
    /// Store an API server's audit log file (JSON lines, gzipped or not) for a cluster, as
    /// the webhook route would: completed, mutating requests on objects are kept (Secret
    /// bodies removed), each `auditID` once, so importing a file twice stores nothing new.
    /// Unusable lines are listed and make the exit status 1; the rest is stored.
    Import {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The cluster's name (or id).
        #[arg(long)]
        cluster: String,
        /// The cluster's workspace (name or id), when clusters of that name exist in
        /// several.
        #[arg(long)]
        workspace: Option<String>,
        /// The audit log file.
        file: PathBuf,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text.trim()).ok_or_else(|| format!("{text:?} is not one of viewer, editor, admin"))
}

fn pool(database: &DatabaseArgs) -> anyhow::Result<PgPool> {
    statesight_store::connect(&database.database_url, 2)
        .context("DATABASE_URL is not a valid PostgreSQL URL")
}

pub async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::User(command) => user(command).await,
        AdminCommand::Workspace(command) => workspace(command).await,
        AdminCommand::Member(command) => member(command).await,
        AdminCommand::Identity(command) => identity(command).await,
        AdminCommand::Audit(AuditCommand::Verify {
            database,
            anchor,
            output,
        }) => crate::audit_verify::run(&pool(&database)?, anchor.as_deref(), output).await,
        AdminCommand::K8sAudit(K8sAuditCommand::Import {
            database,
            cluster,
            workspace,
            file,
        }) => {
            crate::audit_import::run(&pool(&database)?, &cluster, workspace.as_deref(), &file).await
        }
        AdminCommand::Seed {
            database,
            examples_dir,
            data_dir,
            git_bin,
            inputs,
        } => {
            let policy = statesight_core::source::InputPolicy::new(
                inputs.allow_file_repositories,
                &inputs.kubeconfig_roots,
                &inputs.snapshot_roots,
                std::env::var("HOME").ok().as_deref(),
            )?;
            let report = crate::seed::run(
                &pool(&database)?,
                &examples_dir,
                &data_dir,
                &git_bin,
                &policy,
            )
            .await?;
            println!("{report}");
            Ok(())
        }
        AdminCommand::AnalyseExamples {
            database,
            redis_url,
            redis_key_prefix,
            timeout_secs,
        } => {
            let redis = statesight_store::redis_conn::client(&redis_url)
                .context("REDIS_URL is not a valid Redis URL")?;
            let queue = statesight_store::queue::Queue::new(redis, redis_key_prefix);
            let runs = crate::seed::analyse_examples(
                &pool(&database)?,
                &queue,
                Duration::from_secs(timeout_secs),
            )
            .await?;
            for run in runs {
                println!("{run}");
            }
            Ok(())
        }
    }
}

async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            database,
            email,
            name,
        } => {
            let user = provisioning::add_user(&pool(&database)?, &email, &name).await?;
            println!("{}", user.id);
        }
        UserCommand::List(list) => {
            let users = provisioning::list_users(&pool(&list.database)?).await?;
            print_list(list.output, &users, &["ID", "EMAIL", "NAME"], |user| {
                vec![
                    user.id.to_string(),
                    user.email.clone(),
                    user.display_name.clone(),
                ]
            })?;
        }
    }
    Ok(())
}

async fn workspace(command: WorkspaceCommand) -> anyhow::Result<()> {
    match command {
        WorkspaceCommand::Add { database, name } => {
            let workspace = provisioning::add_workspace(&pool(&database)?, &name).await?;
            println!("{}", workspace.id);
        }
        WorkspaceCommand::List(list) => {
            let workspaces = provisioning::list_workspaces(&pool(&list.database)?).await?;
            print_list(
                list.output,
                &workspaces,
                &["ID", "NAME", "MEMBERS"],
                |workspace| {
                    vec![
                        workspace.id.to_string(),
                        workspace.name.clone(),
                        workspace.members.to_string(),
                    ]
                },
            )?;
        }
    }
    Ok(())
}

async fn member(command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Set {
            database,
            workspace,
            user,
            role,
        } => {
            let change =
                provisioning::set_membership(&pool(&database)?, &workspace, &user, role).await?;
            match change {
                MembershipChange::Added => println!("added {user} to {workspace} as {role}"),
                MembershipChange::Changed { from } => {
                    println!("changed {user} in {workspace} from {from} to {role}")
                }
                _ => println!("{user} already is {role} in {workspace}"),
            }
        }
        MemberCommand::Remove {
            database,
            workspace,
            user,
        } => match provisioning::remove_membership(&pool(&database)?, &workspace, &user).await? {
            Some(MembershipChange::Removed { was }) => {
                println!("removed {user} ({was}) from {workspace}")
            }
            _ => println!("{user} was not a member of {workspace}"),
        },
        MemberCommand::List { list, workspace } => {
            let members =
                provisioning::list_memberships(&pool(&list.database)?, workspace.as_deref())
                    .await?;
            print_list(
                list.output,
                &members,
                &["WORKSPACE", "USER", "ROLE"],
                |member| {
                    vec![
                        member.workspace.clone(),
                        member.email.clone(),
                        member.role.to_string(),
                    ]
                },
            )?;
        }
    }
    Ok(())
}

async fn identity(command: IdentityCommand) -> anyhow::Result<()> {
    match command {
        IdentityCommand::Add {
            database,
            issuer,
            subject,
            user,
        } => {
            let identity =
                provisioning::add_identity(&pool(&database)?, &issuer, &subject, &user).await?;
            println!(
                "{} {} now signs in as {}",
                identity.issuer, identity.subject, identity.email
            );
        }
        IdentityCommand::Remove {
            database,
            issuer,
            subject,
        } => {
            if provisioning::remove_identity(&pool(&database)?, &issuer, &subject).await? {
                println!("removed; tokens for {issuer} {subject} are now refused");
            } else {
                anyhow::bail!(
                    "no identity (issuer {issuer:?}, subject {subject:?}) is provisioned"
                );
            }
        }
        IdentityCommand::List { list, user } => {
            let identities =
                provisioning::list_identities(&pool(&list.database)?, user.as_deref()).await?;
            print_list(
                list.output,
                &identities,
                &["ISSUER", "SUBJECT", "USER"],
                |identity| {
                    vec![
                        identity.issuer.clone(),
                        identity.subject.clone(),
                        identity.email.clone(),
                    ]
                },
            )?;
        }
    }
    Ok(())
}

/// Prints rows as JSON or as aligned columns. Stored values may hold anything an operator
/// typed earlier, so table cells are escaped for the terminal.
fn print_list<T: Serialize>(
    output: Output,
    rows: &[T],
    headers: &[&str],
    cells: impl Fn(&T) -> Vec<String>,
) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Output::Table => {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|row| {
                    cells(row)
                        .iter()
                        .map(|cell| {
                            statesight_core::terminal::escape_for_terminal(cell).into_owned()
                        })
                        .collect()
                })
                .collect();
            print!("{}", render_table(headers, &table));
        }
    }
    Ok(())
}

fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|header| header.chars().count())
        .collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|header| (*header).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_trailing_blanks() {
        let table = render_table(
            &["ID", "NAME"],
            &[
                vec![String::from("1"), String::from("platform")],
                vec![String::from("22"), String::from("x")],
            ],
        );
        assert_eq!(table, "ID  NAME\n1   platform\n22  x\n");
    }
}
