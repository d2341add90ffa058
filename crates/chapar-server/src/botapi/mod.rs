//! The bot platform's server side.
//!
//! * [`protocol`]: the bot requests of the WebSocket protocol (create and manage bots, press
//!   buttons, allow service accounts).
pub mod protocol;
