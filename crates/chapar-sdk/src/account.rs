//! Typed helpers for the account itself: the recovery key and profiles.

use crate::client::{Client, unexpected};
use crate::error::SdkError;
use crate::recovery::RecoveryKey;
use chapar_proto::frame::UserQuery;
use chapar_proto::{ErrorCode, Me, Profile, Request, Response, SetProfile, SetRecoveryKey};
use ed25519_dalek::Signer;

impl Client {
    /// Register `key` as the account's recovery key (the previous one stops working). Show
    /// `key.to_code()` to the person first: it is the only way back once every device is gone.
    pub async fn set_recovery_key(&self, key: &RecoveryKey) -> Result<(), SdkError> {
        let mut attempt = 0;
        loop {
            let challenge = self
                .inner
                .shared
                .challenge
                .lock()
                .map(|c| c.clone())
                .unwrap_or_default();
            let k = key.signing_key();
            let request = Request::SetRecoveryKey(SetRecoveryKey {
                public_key: k.verifying_key().to_bytes().to_vec().into(),
                signature: k
                    .sign(&chapar_proto::recovery_message(&challenge))
                    .to_bytes()
                    .to_vec()
                    .into(),
            });
            match self.request(request).await {
                Ok(Response::Ok) => return Ok(()),
                // Reconnected between reading the challenge and the request: sign the new one.
                Err(SdkError::Server(e)) if e.code == ErrorCode::Unauthorized && attempt < 2 => {
                    attempt += 1;
                }
                Ok(other) => return Err(unexpected(other)),
                Err(e) => return Err(e),
            }
        }
    }

    /// This account: profile, whether a recovery key is set, how many devices it has.
    pub async fn me(&self) -> Result<Me, SdkError> {
        match self.request(Request::Me).await? {
            Response::Me(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    pub async fn set_profile(&self, change: SetProfile) -> Result<Me, SdkError> {
        match self.request(Request::SetProfile(change)).await? {
            Response::Me(m) => Ok(m),
            other => Err(unexpected(other)),
        }
    }

    pub async fn profile(&self, handle: impl Into<String>) -> Result<Profile, SdkError> {
        let q = UserQuery {
            handle: handle.into().trim_start_matches('@').to_string(),
        };
        match self.request(Request::Profile(q)).await? {
            Response::Profile(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }
}
