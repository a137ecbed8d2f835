//! End-to-end tests through the real HTTP API on port 0. One test binary.

mod bus_contract;
mod cli;
mod flow;
mod helpers;
mod lifecycle;
mod providers;
mod validation;
