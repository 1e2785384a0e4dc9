//! Classification rules (rules/*.toml). Being written; see the API contract in the task.
