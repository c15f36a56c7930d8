//! A token request whose answer is stored the moment it arrives. Under the store's lock: the
//! write is reserved first, so a full disk or a read-only store stops the request before
//! anything is sent; SIGINT and SIGTERM are held off from the send until the write is done
//! ([`super::shield`]); the answer is merged and written through the reservation. A request
//! that got no answer (a network error after sending) leaves its reservation behind as the
//! record that the refresh token it carried may have been spent.

use super::shield;
use crate::run::error::StepError;
use crate::store::{Locked, ProfileData, StoreError};
use indexmap::IndexMap;
use serde_json::Value;
use std::future::Future;

/// How a stored answer went.
#[derive(Debug, Default)]
pub struct Persisted {
    /// The store's generation after the write.
    pub generation: Option<u64>,
    /// The answer came, but the store could not be written.
    pub unstored: Option<StoreError>,
}

/// A store error as a step error.
pub fn store_error(e: StoreError) -> StepError {
    StepError::Runtime {
        message: e.message,
        help: e.help,
    }
}

/// Sends the request `send` (which must not have started yet) with the store reserved and
/// signals held off, then applies its answer to `data` with `apply` and writes it.
pub async fn send_and_store<F>(
    locked: Locked,
    mut data: ProfileData,
    spending: Option<&str>,
    send: F,
    apply: impl FnOnce(&mut ProfileData, &IndexMap<String, Value>),
) -> Result<(IndexMap<String, Value>, Persisted), StepError>
where
    F: Future<Output = Result<IndexMap<String, Value>, StepError>>,
{
    let (locked, reservation) = locked
        .reserve_async(spending.map(str::to_string))
        .await
        .map_err(store_error)?;
    let held = shield::hold();
    let tokens = match send.await {
        Ok(tokens) => tokens,
        Err(error) => {
            // The reservation goes before the signals are let through.
            match &error {
                StepError::Network(reason) => {
                    reservation.abandon(&format!("no answer came: {reason}"))
                }
                _ => drop(reservation),
            }
            drop(held);
            return Err(error);
        }
    };
    apply(&mut data, &tokens);
    let written = locked.write_async(data, Some(reservation)).await;
    drop(held);
    let persisted = match written {
        Ok((_, data)) => Persisted {
            generation: Some(data.generation),
            unstored: None,
        },
        Err(error) => Persisted {
            generation: None,
            unstored: Some(error),
        },
    };
    Ok((tokens, persisted))
}
