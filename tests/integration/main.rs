//! Integration tests: the real `kubectl-redis_cluster` binary against real `redis-server`
//! processes on loopback, with `redis-cli --cluster check` and an independent cluster client
//! as oracles. One binary (`autotests = false`), one module per command.

mod access;
mod apply;
mod atomic;
mod auth;
mod bad_input;
#[path = "../support/certs.rs"]
mod certs;
mod databases;
mod engine;
mod estimate;
mod faults;
mod fix;
mod harness;
mod hostnames;
mod init;
mod json;
mod kills;
mod locks;
mod mover;
mod proxy;
mod status;
mod tls;
mod tunnels;
mod valkey;
