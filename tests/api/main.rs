//! End-to-end tests through the real HTTP API on port 0. One test binary.

mod browser;
mod bus_contract;
mod cli;
mod cluster;
mod deployment;
mod fares;
mod flow;
mod hardening;
mod helpers;
mod hostile;
mod itineraries;
mod lifecycle;
mod loadtest;
mod money;
mod observability;
mod openapi;
mod providers;
mod readme;
mod redis_full;
mod reload;
mod routes;
mod schemathesis;
mod travellers;
mod upstream;
mod upstream_model;
mod validation;
