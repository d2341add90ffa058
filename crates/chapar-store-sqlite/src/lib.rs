//! chapar-store-sqlite
