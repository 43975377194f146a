//! The subcommands of the `dualwan` binary other than the loop of `run`: `check` (and the
//! config report `run` logs) and `status`.

pub mod check;
pub mod status;
