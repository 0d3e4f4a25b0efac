//! Effects on Redis nodes: connections ([`connector`], [`tls`], [`pool`]), observation of a cluster
//! ([`observe`]), waits for convergence ([`wait`]) and the executors of plans.

pub mod atomic;
pub mod connector;
pub mod converge;
pub mod databases;
pub mod durability;
pub mod error;
pub mod init;
pub mod membership;
pub mod mover;
pub mod observe;
pub mod pool;
pub mod proxy;
pub mod repair;
pub mod sample;
pub mod steps;
pub mod tls;
pub mod wait;

pub use connector::{Connector, DirectConnector};
pub use error::NodeError;
pub use pool::{Credentials, Node, Pool};
pub use tls::{TlsConfig, TlsConnector};
