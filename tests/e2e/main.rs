//! End-to-end tests: the real plugin binary against the real control plane of the test
//! ground (kube-apiserver, controller-manager, scheduler, etcd, kwok) with one real
//! redis-server per pod. Run through `make e2e`, which starts and stops the test ground.

mod adopt;
mod auth;
#[path = "../support/certs.rs"]
mod certs;
mod cluster;
mod direct;
mod domains;
mod errors;
mod ground;
mod hostnames;
mod lifecycle;
mod lock;
mod manifests;
mod preflight;
mod proxy;
mod rollout;
mod scale;
mod tls;
mod valkey;
