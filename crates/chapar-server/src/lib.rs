//! chapar-server
