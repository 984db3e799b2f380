//! Redis connections. The client's default response timeout is 500 ms, which is right for
//! short commands; blocking stream reads get their own connection with a longer timeout.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncConnectionConfig, Client};

use crate::Result;

pub fn client(redis_url: &str) -> Result<Client> {
    Ok(Client::open(redis_url)?)
}

/// One round trip to Redis, bounded by `timeout`.
pub async fn ping(client: &Client, timeout: Duration) -> Result<()> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await?;
    Ok(())
}

/// A reconnecting connection for short commands.
pub async fn manager(client: &Client) -> Result<ConnectionManager> {
    Ok(ConnectionManager::new(client.clone()).await?)
}
