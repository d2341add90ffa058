//! The interactive chat (`chapar chat`).

use crate::args::GlobalArgs;

pub async fn run(_global: &GlobalArgs) -> anyhow::Result<()> {
    anyhow::bail!("chat: not yet")
}
