//! Workspace-level end-to-end tests; they live in `tests/tests/`. Tests that exercise one
//! crate's server against real clients live next to that crate (`wildduck-*/tests/`).
