//! A TCP proxy the test owns, in front of a real database server, so a test can stop "the
//! server" without touching the shared one: [`Proxy::cut`] closes the listening socket (new
//! connections are refused, as by a stopped server) and every relayed connection;
//! [`Proxy::restore`] listens on the same address again.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    /// Bumped on every cut; each relay ends when it changes.
    epoch: watch::Sender<u64>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// A proxy on `127.0.0.1:0` relaying to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("a bound address");
        let (epoch, _) = watch::channel(0);
        let proxy = Proxy {
            addr,
            upstream,
            epoch,
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
        let (upstream, epoch) = (self.upstream, self.epoch.subscribe());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(relay(inbound, upstream, epoch.clone()));
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
        self.epoch.send_modify(|epoch| *epoch += 1);
    }

    /// Listens again on the same address, like a server that came back.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("the proxy's port can be bound again");
        self.listen(listener);
    }
}

/// `epoch` was subscribed when the listener started, so any cut since fires `changed`.
async fn relay(mut inbound: TcpStream, upstream: SocketAddr, mut epoch: watch::Receiver<u64>) {
    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = epoch.changed() => {}
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
