//! `auth login|logout|status|token` (`login`/`logout` also top-level).

use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use statesight_core::terminal::escape_for_terminal;
use statesight_core::wire::Me;

use crate::auth::oidc::{PollEvent, SignInError, human_duration};
use crate::auth::present;
use crate::cli::LoginArgs;
use crate::client::{ClientError, CredentialError};
use crate::config::Context;
use crate::exit;

/// One line for the terminal: escaped, whatever it holds.
fn say(text: &str) {
    println!("{}", escape_for_terminal(text));
}

fn warn(text: &str) {
    eprintln!("{}", escape_for_terminal(text));
}

pub async fn login(context: &Context, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let session = &context.session;
    let config = session.auth_config().await?;
    if !config.auth_required {
        say(&SignInError::NotRequired {
            server: context.server.to_string(),
        }
        .to_string());
        return Ok(exit::exit(exit::OK));
    }
    if context.env_token {
        warn(
            "note: STATESIGHT_TOKEN is set; it overrides the sign-in stored by this login for \
             every command until you unset it",
        );
    }
    let observe: Arc<dyn Fn(PollEvent) + Send + Sync> = Arc::new(|event| match event {
        PollEvent::SlowDown { count, wait } => {
            warn(&format!(
                "the identity provider asked to poll more slowly: now every {} s",
                wait.as_secs_f64().round()
            ));
            if count == 3 {
                warn(
                    "note: the provider said \"slow down\" three times. This usually means this \
                     machine's clock drifts, or the network delays requests so that they arrive \
                     in bursts; check the clock (timedatectl, ntp) and the network if sign-in \
                     keeps failing.",
                );
            }
        }
    });
    let start = session.start_device(observe).await?;
    let color = context.color_stdout();
    let code = escape_for_terminal(&start.user_code).into_owned();
    // The code first, alone on its line, so it is what the eye finds.
    if color {
        println!("Your one-time code: \x1b[1;7m {code} \x1b[0m");
    } else {
        println!("Your one-time code: {code}");
    }
    say(&format!(
        "Open {} on any device and enter the code (it expires in {}).",
        start.verification_uri,
        human_duration(start.expires_in)
    ));
    if let Some(complete) = &start.verification_uri_complete {
        say(&format!("Or open {complete}, which fills in the code."));
        if let Some(qr) = present::qr_for_stdout(complete) {
            println!("{qr}");
        }
    }
    if args.clipboard {
        if present::copy_to_clipboard(&start.user_code) {
            warn("The code is on your clipboard.");
        } else {
            warn("note: --clipboard needs a terminal (OSC 52): the code was not copied");
        }
    }
    if !args.no_browser {
        let target = start
            .verification_uri_complete
            .as_deref()
            .unwrap_or(&start.verification_uri);
        if present::open_browser(target) {
            warn("Opened it in your browser.");
        }
    }
    say("Waiting for the sign-in to be approved…");
    let (stored, location) = start.completion.await?;
    let who = stored
        .subject
        .as_deref()
        .map(|subject| format!(" (subject {subject} at {})", stored.issuer))
        .unwrap_or_default();
    say(&format!("Signed in to {}{who}.", context.server));
    match context.client.get::<Me>("/api/v1/me", None).await {
        Ok(reply) => {
            let me = reply.data;
            say(&format!(
                "You are {} <{}>.",
                me.user.display_name, me.user.email
            ));
            if !me.workspaces.is_empty() {
                let list: Vec<String> = me
                    .workspaces
                    .iter()
                    .map(|w| format!("{} ({})", w.name, w.role))
                    .collect();
                say(&format!("Workspaces: {}", list.join(", ")));
            }
        }
        Err(error) => warn(&format!(
            "warning: signed in, but the server does not accept you yet: {error}"
        )),
    }
    say(&format!("Tokens are kept in {location}."));
    Ok(exit::exit(exit::OK))
}

pub async fn logout(context: &Context) -> anyhow::Result<ExitCode> {
    let (removed, warning) = context.session.sign_out().await?;
    if let Some(warning) = warning {
        warn(&format!("warning: {warning}"));
    }
    if removed {
        say(&format!("Signed out of {}.", context.server));
    } else {
        say(&format!(
            "Not signed in to {}: nothing to forget.",
            context.server
        ));
    }
    if context.env_token {
        warn("note: STATESIGHT_TOKEN is still set and is used until you unset it");
    }
    Ok(exit::exit(exit::OK))
}

pub async fn status(context: &Context) -> anyhow::Result<ExitCode> {
    say(&format!("Server:     {}", context.server));
    if let Some(profile) = &context.profile {
        say(&format!("Profile:    {profile}"));
    }
    let stored = if context.env_token {
        say("Token:      from STATESIGHT_TOKEN (not stored, never refreshed)");
        None
    } else {
        let stored = context.session.stored().await?;
        match &stored {
            None => {
                let config = context.session.auth_config().await?;
                if !config.auth_required {
                    say("Sign-in:    not needed (authentication is off on this server)");
                } else {
                    say("Sign-in:    not signed in (run `statesight-tui login`)");
                    return Ok(exit::exit(exit::HTTP_ERROR));
                }
            }
            Some(session) => {
                let subject = session.subject.as_deref().unwrap_or("(unknown subject)");
                say(&format!("Identity:   {subject} at {}", session.issuer));
            }
        }
        stored
    };
    let me = match context.client.get::<Me>("/api/v1/me", None).await {
        Ok(reply) => reply.data,
        Err(ClientError::Credentials(CredentialError::SignInRequired(message))) => {
            say(&format!("Sign-in:    {message}"));
            return Ok(exit::exit(exit::HTTP_ERROR));
        }
        Err(error) => return Err(error.into()),
    };
    say(&format!(
        "User:       {} <{}> ({})",
        me.user.display_name, me.user.email, me.user.id
    ));
    if me.workspaces.is_empty() {
        say("Workspaces: none (ask an administrator to add you to one)");
    } else {
        say("Workspaces:");
        let remembered = context.last_workspace().map(|w| w.id);
        let width = me
            .workspaces
            .iter()
            .map(|w| w.name.chars().count())
            .max()
            .unwrap_or(0);
        for workspace in &me.workspaces {
            let mark = if Some(workspace.id) == remembered {
                "  (last used)"
            } else {
                ""
            };
            say(&format!(
                "  {:<width$}  {:<6}  {}{mark}",
                workspace.name, workspace.role, workspace.id
            ));
        }
    }
    // The session may have been refreshed by the request above.
    if !context.env_token && stored.is_some() {
        if let Some(session) = context.session.stored().await? {
            let expiry = match session.expires_at {
                Some(at) => {
                    let left = at - Utc::now();
                    if left.num_seconds() > 0 {
                        format!(
                            "expires in {} ({})",
                            human_duration(left.to_std().unwrap_or_default()),
                            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        )
                    } else {
                        format!(
                            "expired at {}",
                            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        )
                    }
                }
                None => String::from("expiry not given by the provider"),
            };
            let refresh = if session.refresh_token.is_some() {
                "renewed automatically"
            } else {
                "no refresh token: sign in again when it expires"
            };
            say(&format!("Token:      {expiry}; {refresh}"));
        }
        let location = context.session.store().current_location().await;
        say(&format!("Stored in:  {location}"));
        if let Some(problem) = context.session.store().keyring_problem().await {
            say(&format!("            (the keyring is not used: {problem})"));
        }
    }
    Ok(exit::exit(exit::OK))
}

pub async fn token(context: &Context) -> anyhow::Result<ExitCode> {
    if context.env_token
        && let Some(token) = context.client.bearer().await?
    {
        println!("{}", escape_for_terminal(&token));
        return Ok(exit::exit(exit::OK));
    }
    match context.session.access_token().await? {
        Some(token) => {
            println!("{}", escape_for_terminal(&token));
            Ok(exit::exit(exit::OK))
        }
        None => {
            warn(&format!(
                "{} needs no token (authentication is off there)",
                context.server
            ));
            Ok(exit::exit(exit::USAGE))
        }
    }
}
