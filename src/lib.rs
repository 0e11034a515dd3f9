pub mod placeholder_for_harness_build {}
