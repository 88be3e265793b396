//! Secrets: write-only values that workflows read as `secrets.<name>`; their names are listed,
//! their values never leave the server. A change re-validates the workflows (one that names a
//! secret that did not exist may become valid, and the other way round).

use serde::Serialize;
use utoipa::ToSchema;

use super::catalog::revalidate_all;
use super::{ManageError, ManageResult, rfc3339};
use crate::state::AppState;

/// A secret as the API shows it: never its value.
#[derive(Serialize, ToSchema)]
pub struct Secret {
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

fn valid_name(name: &str) -> ManageResult<()> {
    if hookflow_core::workflow::is_identifier(name) && name.len() <= 200 {
        Ok(())
    } else {
        Err(ManageError::invalid(format!(
            "secret name {name:?} must be letters, digits and _ (not starting with a digit), so \
             workflows can write secrets.{name}"
        )))
    }
}

/// Creates or replaces secret `name`.
pub async fn put(st: &AppState, name: &str, value: &str) -> ManageResult<()> {
    valid_name(name)?;
    if value.is_empty() {
        return Err(ManageError::invalid("a secret's value cannot be empty"));
    }
    st.store.put_secret(name, value).await?;
    revalidate_all(st).await;
    Ok(())
}

/// Every secret, by name.
pub async fn list(st: &AppState) -> ManageResult<Vec<Secret>> {
    Ok(st
        .store
        .list_secrets()
        .await?
        .into_iter()
        .map(|(name, c, u)| Secret {
            name,
            created_at: rfc3339(c),
            updated_at: rfc3339(u),
        })
        .collect())
}

/// Deletes secret `name`; 404 if there is none.
pub async fn delete(st: &AppState, name: &str) -> ManageResult<()> {
    if !st.store.delete_secret(name).await? {
        return Err(ManageError::NotFound(format!(
            "there is no secret named {name:?}"
        )));
    }
    revalidate_all(st).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_identifiers() {
        assert_eq!(valid_name("api_token2"), Ok(()));
        for bad in ["2fa", "a-b", "", "a b"] {
            assert!(
                matches!(valid_name(bad), Err(ManageError::Invalid { .. })),
                "{bad}"
            );
        }
    }
}
