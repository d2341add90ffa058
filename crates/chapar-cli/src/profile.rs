//! The profile directory: this device's private key (`device.key`, mode 0600), and its state
//! (`state.json`: session token, own handle and ids, sync cursor). Every write goes to a temporary
//! file that is then renamed over the old one, so a crash never leaves half a file.

use anyhow::{Context, Result, bail};
use chapar_sdk::Credentials;
use chapar_sdk::proto::{DeviceId, Pts, UserId};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

const KEY_FILE: &str = "device.key";
const STATE_FILE: &str = "state.json";

/// What the profile remembers besides the key.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub user_id: Option<UserId>,
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    /// The feed cursor: the pts of the last event shown by `sync`/`follow`/`chat`.
    #[serde(default)]
    pub pts: Pts,
}

/// An opened profile directory.
pub struct Profile {
    dir: PathBuf,
    pub key: Option<SigningKey>,
    pub state: State,
}

impl Profile {
    /// Read the profile (a missing directory is an empty profile).
    pub fn open(dir: &Path) -> Result<Profile> {
        let key_path = dir.join(KEY_FILE);
        let key = match std::fs::read(&key_path) {
            Ok(bytes) => {
                let arr: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", key_path.display()))?;
                Some(SigningKey::from_bytes(&arr))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", key_path.display())),
        };
        let state_path = dir.join(STATE_FILE);
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is damaged", state_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
        };
        Ok(Profile {
            dir: dir.to_path_buf(),
            key,
            state,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when this profile has signed in to an account.
    pub fn is_signed_in(&self) -> bool {
        self.key.is_some() && self.state.user_id.is_some()
    }

    /// Fail unless the profile is empty (for `register` and `device link CODE`).
    pub fn require_empty(&self) -> Result<()> {
        if self.is_signed_in() {
            bail!(
                "profile {} is already signed in as @{}; use another --profile",
                self.dir.display(),
                self.state.handle.as_deref().unwrap_or("?")
            );
        }
        Ok(())
    }

    /// The key and token of a signed-in profile.
    pub fn credentials(&self) -> Result<Credentials> {
        match (&self.key, self.state.user_id) {
            (Some(k), Some(_)) => Ok(Credentials {
                signing_key: k.clone(),
                token: self.state.token.clone(),
            }),
            _ => bail!(
                "profile {} has no account: run `chapar register HANDLE` or `chapar device link CODE` first",
                self.dir.display()
            ),
        }
    }

    /// The key of this device, created (and saved) if there is none yet.
    pub fn key_or_create(&mut self) -> Result<SigningKey> {
        if let Some(k) = &self.key {
            return Ok(k.clone());
        }
        let key = Credentials::generate().signing_key;
        self.ensure_dir()?;
        write_atomic(&self.dir.join(KEY_FILE), &key.to_bytes(), true)?;
        self.key = Some(key.clone());
        Ok(key)
    }

    /// Write `state.json`.
    pub fn save(&self) -> Result<()> {
        self.ensure_dir()?;
        let bytes = serde_json::to_vec_pretty(&self.state)?;
        write_atomic(&self.dir.join(STATE_FILE), &bytes, true)
    }

    fn ensure_dir(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating profile directory {}", self.dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(())
    }
}

/// Write `bytes` to `path` via a temporary file, fsync and rename; `private` makes it 0600.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let result = (|| -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_state_round_trip() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("chapar-profile-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut p = Profile::open(&dir)?;
        assert!(p.key.is_none());
        assert!(p.credentials().is_err());
        let key = p.key_or_create()?;
        p.state.user_id = Some(UserId(7));
        p.state.token = Some("t".into());
        p.state.pts = 42;
        p.save()?;
        let q = Profile::open(&dir)?;
        assert_eq!(q.key.as_ref().map(|k| k.to_bytes()), Some(key.to_bytes()));
        assert_eq!(q.state.pts, 42);
        assert!(q.require_empty().is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE))?.permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
