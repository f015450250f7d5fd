//! `moldau user add|delete|list`: SCRAM users in the metadata log, as
//! `kafka-configs.sh --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=…]'
//! --entity-type users` does: the password is salted and hashed here (PBKDF2) and only
//! the salted password travels, in AlterUserScramCredentials.

use clap::{Args, Subcommand};
use moldau_broker::security::scram_credential::{SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN};
use moldau_broker::security::ScramMechanism;
use moldau_protocol::kafka::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use moldau_protocol::kafka::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use moldau_protocol::kafka::protocol::StrBytes;
use rand::RngCore;
use serde_json::json;

use crate::context::Context;
use crate::output::{self, Table};

/// Bytes of random salt per credential (Kafka's ScramFormatter uses a random salt too).
const SALT_BYTES: usize = 32;

/// `moldau user …`
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  moldau user add alice --password alice-secret
  moldau user add bob --mechanism SCRAM-SHA-512 --iterations 8192 < password.txt
  moldau user list
  moldau user delete alice")]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Set a user's SCRAM password (creating the user).
    Add {
        name: String,
        /// The password; read from the first line of stdin when not given.
        #[arg(long)]
        password: Option<String>,
        /// SCRAM-SHA-256 or SCRAM-SHA-512; repeat for both.
        #[arg(long, default_value = "SCRAM-SHA-256")]
        mechanism: Vec<String>,
        /// PBKDF2 iterations (4096..=16384).
        #[arg(long, default_value_t = 4096)]
        iterations: i32,
    },
    /// Remove a user's SCRAM credentials (every mechanism unless one is named).
    Delete {
        name: String,
        #[arg(long)]
        mechanism: Vec<String>,
    },
    /// Users with SCRAM credentials, their mechanisms and iterations.
    List,
}

fn mechanisms(names: &[String]) -> anyhow::Result<Vec<ScramMechanism>> {
    names
        .iter()
        .map(|n| {
            ScramMechanism::from_name(n.trim()).ok_or_else(|| {
                anyhow::anyhow!("unknown mechanism '{n}' (SCRAM-SHA-256 or SCRAM-SHA-512)")
            })
        })
        .collect()
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(
        !password.is_empty(),
        "no password given (--password or stdin)"
    );
    Ok(password)
}

/// Runs `moldau user …`.
pub fn run(ctx: &Context, args: UserArgs) -> anyhow::Result<()> {
    let admin = ctx.admin()?;
    ctx.runtime()?.block_on(ctx.timed(async {
        let cluster = admin.cluster();
        let describe = DescribeUserScramCredentialsRequest::default().with_users(None);
        match args.command {
            UserCommand::Add {
                name,
                password,
                mechanism,
                iterations,
            } => {
                anyhow::ensure!(
                    (SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations),
                    "--iterations must be within {SCRAM_ITERATIONS_MIN}..={SCRAM_ITERATIONS_MAX}"
                );
                let password = match password {
                    Some(p) => p,
                    None => read_password()?,
                };
                let upsertions = mechanisms(&mechanism)?
                    .into_iter()
                    .map(|m| {
                        let mut salt = vec![0u8; SALT_BYTES];
                        rand::thread_rng().fill_bytes(&mut salt);
                        let salted = m.salted_password(
                            password.as_bytes(),
                            &salt,
                            iterations.unsigned_abs(),
                        );
                        ScramCredentialUpsertion::default()
                            .with_name(StrBytes::from_string(name.clone()))
                            .with_mechanism(m.code())
                            .with_iterations(iterations)
                            .with_salt(salt.into())
                            .with_salted_password(salted.into())
                    })
                    .collect();
                let request =
                    AlterUserScramCredentialsRequest::default().with_upsertions(upsertions);
                let response = cluster
                    .send_any(&request)
                    .await
                    .map_err(|e| ctx.explain(e))?;
                report(&response.results)?;
                output::print(&format!("user {name}: SCRAM credentials set"))
            }
            UserCommand::Delete { name, mechanism } => {
                let chosen = if mechanism.is_empty() {
                    // Every mechanism the user has.
                    let response = cluster
                        .send_any(&describe)
                        .await
                        .map_err(|e| ctx.explain(e))?;
                    response
                        .results
                        .iter()
                        .filter(|r| r.user.as_str() == name)
                        .flat_map(|r| r.credential_infos.iter().map(|c| c.mechanism))
                        .collect::<Vec<i8>>()
                } else {
                    mechanisms(&mechanism)?
                        .into_iter()
                        .map(|m| m.code())
                        .collect()
                };
                anyhow::ensure!(!chosen.is_empty(), "user {name} has no SCRAM credentials");
                let deletions = chosen
                    .into_iter()
                    .map(|m| {
                        ScramCredentialDeletion::default()
                            .with_name(StrBytes::from_string(name.clone()))
                            .with_mechanism(m)
                    })
                    .collect();
                let request = AlterUserScramCredentialsRequest::default().with_deletions(deletions);
                let response = cluster
                    .send_any(&request)
                    .await
                    .map_err(|e| ctx.explain(e))?;
                report(&response.results)?;
                output::print(&format!("user {name}: SCRAM credentials deleted"))
            }
            UserCommand::List => {
                let response = cluster
                    .send_any(&describe)
                    .await
                    .map_err(|e| ctx.explain(e))?;
                anyhow::ensure!(
                    response.error_code == 0,
                    "DescribeUserScramCredentials failed: error {} {}",
                    response.error_code,
                    response.error_message.as_deref().unwrap_or("")
                );
                let rows: Vec<(String, String)> = response
                    .results
                    .iter()
                    .map(|r| {
                        let mechs: Vec<String> = r
                            .credential_infos
                            .iter()
                            .map(|c| {
                                let name = ScramMechanism::from_code(c.mechanism)
                                    .map(|m| m.name().to_string())
                                    .unwrap_or_else(|| format!("mechanism {}", c.mechanism));
                                format!("{name}(iterations={})", c.iterations)
                            })
                            .collect();
                        (r.user.to_string(), mechs.join(", "))
                    })
                    .collect();
                if ctx.json {
                    let users: Vec<serde_json::Value> = rows
                        .iter()
                        .map(|(u, m)| json!({"user": u, "credentials": m}))
                        .collect();
                    return output::print_json(&json!(users));
                }
                let mut table = Table::new(&["USER", "CREDENTIALS"]);
                for (u, m) in rows {
                    table.row(vec![u, m]);
                }
                output::print(&table.render())
            }
        }
    }))
}

/// Fails with the first per-user error of an AlterUserScramCredentials response.
fn report(
    results: &[moldau_protocol::kafka::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult],
) -> anyhow::Result<()> {
    for r in results {
        anyhow::ensure!(
            r.error_code == 0,
            "user {}: error {} {}",
            r.user.as_str(),
            r.error_code,
            r.error_message.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
