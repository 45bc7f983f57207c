//! A TCP proxy the test owns, in front of a real database server, so a test can stop "the
//! server" without touching the shared one: [`Proxy::cut`] closes the listening socket (new
//! connections are refused, as by a stopped server) and every relayed connection;
//! [`Proxy::freeze`] keeps every socket open but relays nothing (a server that hangs, a
//! network that drops packets); [`Proxy::restore`] relays again on the same address.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Refuse,
    Freeze,
}

pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// A proxy on `127.0.0.1:0` relaying to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("a bound address");
        let (mode, _) = watch::channel(Mode::Up);
        let proxy = Proxy {
            addr,
            upstream,
            mode,
            listener: Mutex::new(None),
        };
        proxy.listen(listener);
        proxy
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn listen(&self, listener: TcpListener) {
        let (upstream, mode) = (self.upstream, self.mode.subscribe());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(relay(inbound, upstream, mode.clone()));
            }
        });
        *self.listener.lock().unwrap() = Some(task);
    }

    /// Refuses new connections and closes every open one, like a server that stopped.
    pub async fn cut(&self) {
        let task = self.listener.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.mode.send_replace(Mode::Refuse);
    }

    /// Accepts connections and keeps every one open, but passes nothing on either way.
    pub fn freeze(&self) {
        self.mode.send_replace(Mode::Freeze);
    }

    /// Relays again, listening on the same address if it had stopped.
    pub async fn restore(&self) {
        if self.listener.lock().unwrap().is_none() {
            let listener = TcpListener::bind(self.addr)
                .await
                .expect("the proxy's port can be bound again");
            self.listen(listener);
        }
        self.mode.send_replace(Mode::Up);
    }
}

/// Relays while the proxy is up; when it freezes, holds both sockets silent until the mode
/// changes again; when it is cut, closes them.
async fn relay(mut inbound: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    if *mode.borrow_and_update() == Mode::Up {
        let Ok(mut outbound) = TcpStream::connect(upstream).await else {
            return;
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
            _ = mode.wait_for(|mode| *mode != Mode::Up) => {}
        }
        if *mode.borrow() == Mode::Freeze {
            let _ = mode.wait_for(|mode| *mode != Mode::Freeze).await;
        }
        return;
    }
    if *mode.borrow() == Mode::Freeze {
        let _ = mode.wait_for(|mode| *mode != Mode::Freeze).await;
    }
}

/// The `host:port` of a `scheme://user@host:port/...` URL.
pub fn url_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let host_port = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port
        .parse()
        .unwrap_or_else(|_| panic!("the test URL names host:port as an IP address: {url}"))
}

/// `url` with its `host:port` replaced by `addr`.
pub fn url_via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
    let tail = rest.find(['/', '?']).map_or("", |at| &rest[at..]);
    let at = if user.is_empty() { "" } else { "@" };
    format!("{scheme}://{user}{at}{addr}{tail}")
}
