//! Connections to nodes for the length of one command: one multiplexed connection per node,
//! opened through the [`Connector`] on first use and reused (so a port-forward is opened once
//! per pod), authenticated with the command's [`Credentials`].

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Cmd, FromRedisValue, Pipeline, RedisConnectionInfo, Value};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::{self, AlertDescription};

use super::connector::{ConnectError, Connector, Opened};
use super::error::NodeError;
use crate::topology::Endpoint;

/// How to authenticate to every node. The password is never printed: `Debug` hides it.
#[derive(Clone)]
pub struct Credentials {
    /// ACL user, if not `default`.
    pub username: Option<String>,
    /// The password.
    pub password: String,
    /// Where it came from (`REDISCLI_AUTH`, `secret default/redis-auth key password`), for
    /// error messages.
    pub origin: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("origin", &self.origin)
            .finish()
    }
}

/// Per-command connection cache.
pub struct Pool {
    connector: Arc<dyn Connector>,
    credentials: Option<Credentials>,
    greeting_timeout: Duration,
    response_timeout: Duration,
    /// Each node's connections (lane 0, and more where commands that block on the server are
    /// spread: [`Pool::lane`]), with the route that carries each.
    conns: Mutex<HashMap<(Endpoint, usize), (MultiplexedConnection, String)>>,
    drivers: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    /// A pool dialling through `connector`. `greeting_timeout` bounds a new connection's
    /// first answers (AUTH, PING): a node that says nothing by then is not speaking our
    /// protocol (a TLS port dialled in plain text through a tunnel that does not pass the
    /// hang-up on). `response_timeout` bounds every later reply; MIGRATE callers pass their
    /// own larger timeout inside the command and so need a bound above it.
    pub fn new(
        connector: Arc<dyn Connector>,
        credentials: Option<Credentials>,
        greeting_timeout: Duration,
        response_timeout: Duration,
    ) -> Self {
        Self {
            connector,
            credentials,
            greeting_timeout,
            response_timeout,
            conns: Mutex::new(HashMap::new()),
            drivers: Mutex::new(Vec::new()),
        }
    }

    /// Awaits `look`, a quick command on `endpoint` (INFO, CLUSTER NODES, PING), for at most
    /// max(--connect-timeout, 10 s): a node that says nothing for that long is not answering
    /// now (its cached connection may lead to a pod deleted under it), and the caller tries
    /// again instead of hanging for the whole reply timeout. Opening the connection is bounded
    /// on its own, with its own advice, so `look` should start after [`Pool::node`].
    pub async fn bounded_look<T>(
        &self,
        endpoint: &Endpoint,
        look: impl std::future::Future<Output = Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        let waited = self.greeting_timeout.max(Duration::from_secs(10));
        tokio::time::timeout(waited, look)
            .await
            .map_err(|_| NodeError::Silent {
                endpoint: endpoint.clone(),
                waited,
            })?
    }

    /// Runs one quick command on `endpoint` (MEET, REPLICATE, FORGET, RESET, FAILOVER: anything
    /// the node answers at once), bounded like [`Pool::bounded_look`]. A connection that timed
    /// out or broke is dropped, with what the connector remembers of the address: through a
    /// port-forward, the tunnel to a pod deleted under it may stay open and silent, and without
    /// the bound the command would wait the whole reply timeout (`--timeout`) on it.
    pub async fn quick<T: FromRedisValue>(
        &self,
        endpoint: &Endpoint,
        cmd: Cmd,
    ) -> Result<T, NodeError> {
        let result = async {
            let mut node = self.node(endpoint).await?;
            self.bounded_look(endpoint, node.call(cmd)).await
        }
        .await;
        self.forget_if_broken(endpoint, result)
    }

    /// Drops the connection to `endpoint` when `result` says it timed out or broke, so the
    /// next call dials the node as it is now.
    pub fn forget_if_broken<T>(
        &self,
        endpoint: &Endpoint,
        result: Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        if let Err(e) = &result
            && e.is_transport()
        {
            self.forget(endpoint);
        }
        result
    }

    /// Whether answers must be checked against the address dialled ([`Connector::maps_addresses`]).
    pub fn maps_addresses(&self) -> bool {
        self.connector.maps_addresses()
    }

    /// The route a connection to `endpoint` takes by a lookup made now ([`Connector::route_now`]).
    pub async fn route_now(&self, endpoint: &Endpoint) -> Option<String> {
        self.connector.route_now(endpoint).await
    }

    /// The connector this pool dials through (TLS included), for raw streams to nodes.
    pub fn connector(&self) -> Arc<dyn Connector> {
        self.connector.clone()
    }

    /// A new, empty pool with the same connector, credentials and timeouts (for work that
    /// outlives the command's own pool, such as the proxy's).
    pub fn sibling(&self) -> Self {
        Self::new(
            self.connector.clone(),
            self.credentials.clone(),
            self.greeting_timeout,
            self.response_timeout,
        )
    }

    /// The credentials nodes use among themselves too (MIGRATE needs them).
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// A connection to `endpoint`, opened on first use.
    pub async fn node(&self, endpoint: &Endpoint) -> Result<Node, NodeError> {
        self.lane(endpoint, 0).await
    }

    /// Connection number `lane` to `endpoint` (lane 0 is [`Pool::node`]'s), opened on first
    /// use. A command the server blocks until its replicas acknowledge it (Valkey's
    /// replicated `CLUSTER SETSLOT`) holds up every later command of its connection, so
    /// many of them are spread over several lanes, whose waits overlap.
    pub async fn lane(&self, endpoint: &Endpoint, lane: usize) -> Result<Node, NodeError> {
        let key = (endpoint.clone(), lane);
        let cached = self.lock_conns().get(&key).cloned();
        let (conn, route) = match cached {
            Some(cached) => cached,
            None => {
                let opened = self.open(endpoint).await?;
                self.lock_conns().insert(key, opened.clone());
                opened
            }
        };
        Ok(Node {
            endpoint: endpoint.clone(),
            route,
            conn,
            auth_origin: self.auth_origin(),
        })
    }

    /// Drops the cached connection to `endpoint` (after the node restarted, say), and what the
    /// connector remembers about it.
    pub fn forget(&self, endpoint: &Endpoint) {
        self.lock_conns().retain(|(e, _), _| e != endpoint);
        self.connector.forget(endpoint);
    }

    /// Opens and authenticates a new connection, and checks it answers; with its route.
    async fn open(
        &self,
        endpoint: &Endpoint,
    ) -> Result<(MultiplexedConnection, String), NodeError> {
        let Opened { stream, route } =
            self.connector
                .connect(endpoint)
                .await
                .map_err(|source| NodeError::Connect {
                    endpoint: endpoint.clone(),
                    source,
                })?;
        let mut info = RedisConnectionInfo::default().set_skip_set_lib_name();
        if let Some(c) = &self.credentials {
            info = info.set_password(&c.password);
            if let Some(user) = &c.username {
                info = info.set_username(user);
            }
        }
        let config = AsyncConnectionConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.response_timeout));
        let greeted = async {
            let (conn, driver) = MultiplexedConnection::new_with_config(&info, stream, config)
                .await
                .map_err(|e| {
                    hung_up(endpoint, e).unwrap_or_else(|e| self.classify(endpoint, "AUTH", e))
                })?;
            self.drivers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(tokio::spawn(driver));
            let mut conn = conn;
            // A server that wants a password we do not have only says so on the first command.
            let ping = ::redis::cmd("PING").query_async::<String>(&mut conn).await;
            ping.map_err(|e| {
                hung_up(endpoint, e).unwrap_or_else(|e| self.classify(endpoint, "PING", e))
            })?;
            Ok(conn)
        };
        let conn = tokio::time::timeout(self.greeting_timeout, greeted)
            .await
            .map_err(|_| NodeError::Connect {
                endpoint: endpoint.clone(),
                source: ConnectError::Silent(self.greeting_timeout),
            })??;
        Ok((conn, route))
    }

    /// Describes where the password came from, for auth errors.
    fn auth_origin(&self) -> String {
        match &self.credentials {
            Some(c) => match &c.username {
                Some(user) => format!("user {user}, password from {}", c.origin),
                None => format!("password from {}", c.origin),
            },
            None => "no password given; set REDISCLI_AUTH or --password-secret".into(),
        }
    }

    /// Maps a connection-time error to [`NodeError`].
    fn classify(&self, endpoint: &Endpoint, command: &str, e: ::redis::RedisError) -> NodeError {
        classify(endpoint, command, &self.auth_origin(), e)
    }

    /// The connection map, surviving a panicked holder (the map itself stays consistent).
    fn lock_conns(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(Endpoint, usize), (MultiplexedConnection, String)>>
    {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for driver in self
            .drivers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            driver.abort();
        }
    }
}

/// A node that hangs up on the first command of a new connection is one that speaks TLS to
/// a plain-text client, or wants a client certificate: say so instead of `broken pipe`. With
/// TLS 1.3 the node checks the client certificate after the client's side of the handshake is
/// done, so a missing one shows up here too, as an alert (or as the hang-up, by timing).
fn hung_up(endpoint: &Endpoint, e: ::redis::RedisError) -> Result<NodeError, ::redis::RedisError> {
    let source = match tls_alert(&e) {
        Some(alert) => ConnectError::TlsAlert(alert),
        None if e.is_connection_dropped() && !e.is_timeout() => ConnectError::HungUp,
        None => return Err(e),
    };
    Ok(NodeError::Connect {
        endpoint: endpoint.clone(),
        source,
    })
}

/// The TLS alert the node sent, if that is what ended the connection. redis-rs keeps the I/O
/// error behind an `Arc`, and the I/O error keeps rustls' behind `get_ref`.
fn tls_alert(e: &::redis::RedisError) -> Option<AlertDescription> {
    use std::error::Error;
    type Shared = std::sync::Arc<dyn Error + Send + Sync>;
    let mut next: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = next {
        let err: &(dyn Error + 'static) = match err.downcast_ref::<Shared>() {
            Some(shared) => shared.as_ref(),
            None => err,
        };
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map_or(err, |inner| inner as &(dyn Error + 'static));
        if let Some(rustls::Error::AlertReceived(alert)) = inner.downcast_ref::<rustls::Error>() {
            return Some(*alert);
        }
        next = err.source();
    }
    None
}

/// Maps a Redis error to [`NodeError`], recognising authentication failures.
fn classify(endpoint: &Endpoint, command: &str, origin: &str, e: ::redis::RedisError) -> NodeError {
    let auth = e.kind() == ::redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"));
    if auth {
        NodeError::Auth {
            endpoint: endpoint.clone(),
            origin: origin.to_string(),
            reason: match (e.code(), e.detail()) {
                (Some(code), Some(detail)) => format!("{code} {detail}"),
                // redis-rs' own AUTH during the handshake keeps only the verdict.
                _ => "the server refused the credentials".into(),
            },
        }
    } else {
        NodeError::Command {
            endpoint: endpoint.clone(),
            command: command.to_string(),
            source: e,
        }
    }
}

/// A connection to one node. Cheap to clone; clones share the multiplexed connection, so
/// concurrent calls pipeline on the wire.
#[derive(Clone)]
pub struct Node {
    /// The node's endpoint.
    pub endpoint: Endpoint,
    /// How the connection reaches it (`direct`, `port-forward to pod …`).
    pub route: String,
    conn: MultiplexedConnection,
    auth_origin: String,
}

impl Node {
    /// Runs one command.
    pub async fn call<T: FromRedisValue>(&mut self, cmd: Cmd) -> Result<T, NodeError> {
        cmd.query_async(&mut self.conn)
            .await
            .map_err(|e| classify(&self.endpoint, &label(&cmd), &self.auth_origin, e))
    }

    /// Sends a pipeline in one round trip and returns each command's reply, errors included
    /// as [`Value::ServerError`], so one refused command does not hide the others' results.
    pub async fn pipeline(&mut self, pipe: &Pipeline) -> Result<Vec<Value>, NodeError> {
        let mut pipe = pipe.clone();
        pipe.ignore_errors();
        let command = pipe.cmd_iter().next().map(label).unwrap_or_default();
        pipe.query_async(&mut self.conn)
            .await
            .map_err(|e| classify(&self.endpoint, &command, &self.auth_origin, e))
    }

    /// Runs a pipeline and fails on the first refused command.
    pub async fn pipeline_ok(&mut self, pipe: &Pipeline) -> Result<Vec<Value>, NodeError> {
        let values = self.pipeline(pipe).await?;
        for (value, cmd) in values.iter().zip(pipe.cmd_iter()) {
            if let Value::ServerError(e) = value {
                return Err(NodeError::Command {
                    endpoint: self.endpoint.clone(),
                    command: label(cmd),
                    source: e.clone().into(),
                });
            }
        }
        Ok(values)
    }
}

/// The command name and subcommand (`CLUSTER SETSLOT`), never values that might be secret.
pub fn label(cmd: &Cmd) -> String {
    let words: Vec<String> = cmd
        .args_iter()
        .take(2)
        .filter_map(|a| match a {
            ::redis::Arg::Simple(bytes) => std::str::from_utf8(bytes).ok().map(str::to_uppercase),
            _ => None,
        })
        .collect();
    let name = words.first().cloned().unwrap_or_default();
    // Only these commands take a subcommand as their second word.
    if matches!(
        name.as_str(),
        "CLUSTER" | "CONFIG" | "CLIENT" | "INFO" | "ACL"
    ) {
        words.join(" ")
    } else {
        name
    }
}
