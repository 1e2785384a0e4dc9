//! Switchboard: a shared mailbox in, tracked cases out.
//!
//! The modules follow the pipeline: `mailbox` → `intake` (with `message`, `thread`,
//! `rules`) → `store` → `outbox` → `sender`, driven by `daemon`.

pub mod calendar;
pub mod case;
pub mod clock;
pub mod commands;
pub mod compose;
pub mod config;
pub mod daemon;
pub mod intake;
pub mod mailbox;
pub mod message;
pub mod reply;
pub mod rules;
pub mod secret;
pub mod sender;
pub mod store;
pub mod templates;
pub mod thread;
pub mod tls;
