//! The subcommands of the `dualwan` binary other than the loop of `run`: `check` (and the
//! config report `run` logs), `status` and `import-mwan3`.

pub mod check;
pub mod import_mwan3;
pub mod status;
