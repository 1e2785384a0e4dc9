//! Switchboard: a shared mailbox in, tracked cases out.
//!
//! The modules follow the pipeline: `mailbox` → `intake` (with `message`, `thread`,
//! `rules`) → `store` → `outbox` → `sender`, driven by `daemon`.

pub mod case;
pub mod compose;
pub mod config;
pub mod message;
pub mod rules;
pub mod secret;
pub mod store;
pub mod templates;
