//! Switchboard: a shared mailbox in, tracked cases out.
//!
//! The modules follow the pipeline: `mailbox` → `intake` (with `message`, `thread`,
//! `rules`, and `reply` for department answers) → `store` → `outgoing` → `sender`;
//! beside it the clock: `calendar` and `sla` say when, `deadlines` fires. `daemon`
//! drives them all.

pub mod alerts;
pub mod calendar;
pub mod case;
pub mod clock;
pub mod commands;
pub mod compose;
pub mod config;
pub mod daemon;
pub mod deadlines;
pub mod digest;
pub mod intake;
pub mod mailbox;
pub mod memory;
pub mod message;
pub mod oauth2;
pub mod outgoing;
pub mod records;
pub mod reply;
pub mod rules;
pub mod secret;
pub mod sender;
pub mod sla;
pub mod store;
pub mod systemd;
pub mod templates;
pub mod thread;
pub mod tls;
pub mod web;
