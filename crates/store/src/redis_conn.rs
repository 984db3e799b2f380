//! Redis clients. Connections live in `queue::Queue`: a reconnecting shared one for short
//! commands (which `/readyz` pings, so readiness and requests agree) and dedicated ones with
//! a longer timeout for blocking stream reads.

use redis::Client;

use crate::Result;

pub fn client(redis_url: &str) -> Result<Client> {
    Ok(Client::open(redis_url)?)
}
