//! Reading what people send back: a department's reply to a routed case, and a
//! customer's answer to the satisfaction survey.
//!
//! Everything here is pure (text in, values out) so that the rules about what counts
//! as a command, a quote or an answer can be tested on their own, with the samples
//! that real clients produce. The intake decides what to do with the results.
//!
//! - `quote`: the text a person wrote, without the history their client appended;
//! - `commands`: `Status: resolved`-style lines at the top of a department's reply;
//! - `survey`: 1–4 or 非常满意…不满意 from a customer;
//! - `token`: the HMAC that ties a reply address or Message-ID to a case and department;
//! - `auth`: whether the receiving MTA vouched for the sender (RFC 8601);
//! - `milestones`: dated steps in a collaboration request.

pub mod auth;
pub mod commands;
pub mod milestones;
pub mod quote;
pub mod survey;
pub mod token;
