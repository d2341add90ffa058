//! chapar-sdk
