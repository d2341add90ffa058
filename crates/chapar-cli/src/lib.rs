//! chapar-cli
