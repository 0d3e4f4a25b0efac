//! `proxy`: the whole cluster on local ports. One listener per node ([`book`]), each client
//! connection tunnelled to its node through the command's connector (a port-forward from a
//! workstation) and relayed byte for byte ([`relay`]), except the replies that tell a client
//! where nodes are ([`rewrite`]), which name the local listeners instead, so that any cluster
//! client follows MOVED, ASK and the slot map to a port it can reach.

pub mod book;
pub mod frame;
pub mod relay;
pub mod rewrite;

pub use book::{
    Listen, Naming, NodeListener, Proxy, ProxyError, ProxyEvent, TrafficCount, Unnamed,
};
