//! rust-remote: a NATed, DCUtR-capable rust-libp2p peer ("remote" B) for punchr's NAT lab — the
//! rust-libp2p counterpart of src/lab/peers/remote.ts and test/interop/go-remote, with the same
//! command line and ready line:
//!
//! ```text
//! rust-remote --relay /ip4/11.0.0.2/tcp/4001/p2p/12D3… [--listen-port 4101] [--dial-port 4100]
//!             [--dht-bootstrap /ip4/…/p2p/12D3…]… [--ready-timeout-ms 30000] [--key <file>]
//!             [--listen-ip 0.0.0.0] [--no-dcutr] [--advertise-dcutr]
//!             [--relay-quic /ip4/11.0.0.2/udp/4001/quic-v1/p2p/12D3… [--quic-port 4102]]
//!             [--relay6 /ip6/2600:11::2/tcp/4001/p2p/12D3…] [--relay-quic6 /ip6/…/udp/4001/quic-v1/p2p/12D3…]
//! ```
//!
//! Stock rust-libp2p (the `libp2p` crate, version pinned in Cargo.lock), configured the way a
//! NATed rust-libp2p node is: TCP + Noise + Yamux, the relay client with a reservation on the
//! lab relay (`listen_on(<relay>/p2p-circuit)`), DCUtR, identify, ping and a Kademlia client on
//! /ipfs/kad/1.0.0. Nothing in the hole-punch path is patched.
//!
//! - `--dial-port` is accepted and ignored. libp2p-tcp ≥ 0.42 has no `Config::port_reuse` any
//!   more (deprecated no-op, "decided by the behaviour"): every dial carries a `PortUse`, and
//!   `PortUse::Reuse` — the default of `DialOpts`, used by the relay client, Kademlia and
//!   DCUtR's punch dials — binds the dial socket (SO_REUSEPORT) to the port of a listening
//!   socket of the same IP family. So every TCP dial leaves from --listen-port, the relay
//!   observes it, and the punch reuses that NAT mapping. We dial the relay only after the TCP
//!   listener reported its address, which is when libp2p-tcp registers the port for reuse.
//! - With `--relay-quic` it also speaks QUIC v1 (libp2p-quic, quinn): it listens on UDP
//!   `--quic-port`, and once the reservation (over TCP, as without QUIC) is held it opens a
//!   second connection to the relay, over QUIC (`PeerCondition::Always`: rust-libp2p keeps
//!   several connections per peer), whose identify tells it its public QUIC address — an
//!   address candidate that DCUtR's CONNECT carries beside the TCP one. QUIC dials with
//!   `PortUse::Reuse` (the default, DCUtR's punch dial included) leave from the listening
//!   socket. Note that libp2p-quic 0.14 sprays random UDP ("dial as listener") only for a
//!   role-override dial with `PortUse::New`; DCUtR's punch dial overrides the role with the
//!   default `PortUse::Reuse`, so B's QUIC punch is a plain QUIC client dial from the listening
//!   socket, which crosses A's dial (docs/INTEROP.md, rust finding R5).
//! - DCUtR's CONNECT carries the *address candidates* (`FromSwarm::NewExternalAddrCandidate`,
//!   libp2p-dcutr ≥ 0.11), not the confirmed external addresses, minus relayed ones, with
//!   /p2p/<us> appended; a relayed connection's handler takes the set as it is when the
//!   connection opens. Identify turns every observed address into a candidate: as observed when
//!   its port is one we listen on (port reuse worked: behind a cone NAT `<router WAN>:<listen
//!   port>`), else "translated" onto each TCP listen address (behind a symmetric NAT
//!   `<router WAN>:<listen port>`, although the NAT used a random port). So the relay's
//!   observation alone suffices, and it is *not* added as an external address: identify
//!   advertises external addresses, and the honeypot skips peers that advertise a public one.
//! - Identify advertises only the external addresses (`with_hide_listen_addrs`): the relay
//!   client confirms `<relay>/p2p-circuit` as an external address once the reservation is
//!   accepted. Like a NATed go-libp2p node with AutoRelay, the remote looks reachable through
//!   the relay only.
//! - rust-libp2p lists a protocol in identify per connection, from that connection's handlers.
//!   Its DCUtR behaviour handles `/libp2p/dcutr` only on a relayed connection it *dialled*; on
//!   direct connections and inbound relayed ones it does not. So a stock rust-libp2p B never
//!   tells the honeypot that it speaks DCUtR, and the honeypot (docs/PROTOCOL.md, "Honeypot") does not record it.
//!   `--advertise-dcutr` lists `/libp2p/dcutr` on direct connections too (a stream opened there
//!   is accepted and dropped), the way go-libp2p and js-libp2p list it host-wide; relayed
//!   connections and the punch are untouched. Every connection's list is logged ("our
//!   protocols on this connection").
//! - After the own-key lookup the remote runs a Kademlia bootstrap (what Kademlia also starts
//!   by itself once its routing table changed): the first lookup can miss a DHT server that the
//!   bootstrap peer has not yet put into its routing table.
//! - Dual stack (a home with IPv6): `--relay6` / `--relay-quic6` are the relay's IPv6 addresses.
//!   The remote then also listens on `/ip6/::` (TCP on --listen-port, QUIC on --quic-port; both
//!   IPV6_V6ONLY, so beside the IPv4 sockets), and once the IPv4 paths are ready it opens one
//!   more connection to the relay per IPv6 transport (`PeerCondition::Always`, from the IPv6
//!   listening socket by port reuse), whose identify tells it its public IPv6 address on that
//!   path: a candidate that CONNECT carries beside the IPv4 ones.
//! - The agent version names rust-libp2p and its version (`punchr-lab-rust-remote
//!   rust-libp2p/0.57.1`): the measuring client picks its handshake role from it.
//!
//! It prints ONE JSON line on stdout when ready — reservation held, the relay's observation
//! known (`publicAddrs`) and an address candidate for DCUtR (`holePunchAddrs`), and with
//! --dht-bootstrap the DHT joined (`dhtPeers`: the peers found and in the routing table):
//!
//! ```text
//! {"ready":true,"peerId":…,"relayAddrs":[…],"publicAddrs":[…],"holePunchAddrs":[…],"dhtPeers":[…],
//!  "impl":"rust","version":"0.57.1","listenPort":4101,"dcutr":true,"advertiseDcutr":false,"agentVersion":…}
//! ```
//!
//! or `{"error": …}` and exit 1. Logs are JSON lines on stderr (`RUST_LOG`-like spec in
//! `PUNCHR_RUST_LOG`, default `warn,rust_remote=<PUNCHR_LOG_LEVEL or info>,libp2p_dcutr=debug`).
//! SIGTERM/SIGINT exit 0.

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    convert::Infallible,
    process::ExitCode,
    str::FromStr,
    task::{Context, Poll, Waker},
    time::Duration,
};

use either::Either;
use libp2p::{
    core::{
        transport::{ListenerId, OptionalTransport, PortUse},
        upgrade::{DeniedUpgrade, ReadyUpgrade},
        ConnectedPoint, Endpoint,
    },
    dcutr,
    futures::StreamExt,
    identify, identity, kad,
    multiaddr::Protocol,
    noise, ping, quic, relay,
    swarm::{
        behaviour::toggle::Toggle,
        dial_opts::{DialOpts, PeerCondition},
        handler::{ConnectionEvent, ProtocolsChange},
        ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
        NetworkBehaviour, SubstreamProtocol, SwarmEvent, THandler, THandlerInEvent,
        THandlerOutEvent, ToSwarm,
    },
    tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use serde_json::json;
use tracing::{debug, error, info, warn};

const DHT_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/kad/1.0.0");
const DCUTR_PROTOCOL: StreamProtocol = StreamProtocol::new("/libp2p/dcutr");
const USAGE: &str = "rust-remote --relay <relay multiaddr with /p2p/> [--listen-ip 0.0.0.0] \
    [--listen-port 4101] [--dial-port N (ignored)] [--dht-bootstrap <multiaddr with /p2p/>]… \
    [--ready-timeout-ms 30000] [--key <file>] [--no-dcutr] [--advertise-dcutr] \
    [--relay-quic <relay QUIC multiaddr with /p2p/> [--quic-port 0]] \
    [--relay6 <the relay's IPv6 TCP multiaddr>] [--relay-quic6 <its IPv6 QUIC multiaddr, with --relay-quic>]";

struct Options {
    relay: Multiaddr,
    relay_peer: PeerId,
    listen_ip: String,
    listen_port: u16,
    dht_bootstrap: Vec<(PeerId, Multiaddr)>,
    ready_timeout: Duration,
    key_file: Option<String>,
    dcutr: bool,
    advertise_dcutr: bool,
    /// The relay's QUIC v1 address (None: TCP only) and the UDP port we listen on for QUIC.
    relay_quic: Option<Multiaddr>,
    quic_port: u16,
    /// The relay's IPv6 TCP and QUIC v1 addresses (a dual-stack home).
    relay6: Option<Multiaddr>,
    relay_quic6: Option<Multiaddr>,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    relay: relay::client::Behaviour,
    dcutr: Toggle<dcutr::Behaviour>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    local_protocols: LocalProtocols,
}

fn main() -> ExitCode {
    init_logging();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = parse_options(std::env::args().skip(1).collect())
        .and_then(|opts| runtime.block_on(run(opts)));
    match result {
        Ok(()) => {
            info!("stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            error!(err = %err, "failed");
            print_line(&json!({ "error": err }));
            ExitCode::FAILURE
        }
    }
}

fn parse_options(args: Vec<String>) -> Result<Options, String> {
    let mut relay = None;
    let mut listen_ip = "0.0.0.0".to_string();
    let mut listen_port = 4101u16;
    let mut bootstrap = Vec::new();
    let mut ready_timeout_ms = 30_000u64;
    let mut key_file = None;
    let mut dcutr = true;
    let mut advertise_dcutr = false;
    let mut relay_quic = None;
    let mut quic_port = None;
    let mut relay6 = None;
    let mut relay_quic6 = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        // Go's flag syntax, which go-remote accepts: -name or --name, value separate or after '='.
        let trimmed = arg.trim_start_matches('-');
        if trimmed.len() == arg.len() {
            return Err(format!("unexpected argument {arg}\nusage: {USAGE}"));
        }
        let (name, inline) = match trimmed.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (trimmed.to_string(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("--{name} needs a value\nusage: {USAGE}"))
        };
        match name.as_str() {
            "relay" => relay = Some(value()?),
            "listen-ip" => listen_ip = value()?,
            "listen-port" => listen_port = parse_num(&name, &value()?)?,
            "dial-port" => {
                let _: u16 = parse_num(&name, &value()?)?;
            }
            "dht-bootstrap" => bootstrap.push(value()?),
            "ready-timeout-ms" => ready_timeout_ms = parse_num(&name, &value()?)?,
            "key" => key_file = Some(value()?),
            "no-dcutr" => dcutr = false,
            "advertise-dcutr" => advertise_dcutr = true,
            "relay-quic" => relay_quic = Some(value()?),
            "quic-port" => quic_port = Some(parse_num(&name, &value()?)?),
            "relay6" => relay6 = Some(value()?),
            "relay-quic6" => relay_quic6 = Some(value()?),
            "h" | "help" => return Err(format!("usage: {USAGE}")),
            _ => return Err(format!("unknown flag {arg}\nusage: {USAGE}")),
        }
    }
    let relay = relay
        .ok_or_else(|| format!("--relay <multiaddr with /p2p/> is required\nusage: {USAGE}"))?;
    let (relay_peer, relay) = split_peer(&relay).map_err(|e| format!("--relay {relay}: {e}"))?;
    let relay_quic = match relay_quic {
        None if quic_port.is_some() => {
            return Err(format!("--quic-port needs --relay-quic\nusage: {USAGE}"))
        }
        None => None,
        Some(r) => {
            let (peer, addr) = split_peer(&r).map_err(|e| format!("--relay-quic {r}: {e}"))?;
            let quic = addr.iter().any(|c| c == Protocol::QuicV1);
            if peer != relay_peer || !quic || is_relayed(&addr) {
                return Err(format!(
                    "--relay-quic {r}: must be a /udp/<port>/quic-v1 address of the --relay peer"
                ));
            }
            Some(addr)
        }
    };
    let relay6 = relay6
        .map(|r| relay_path(&r, "relay6", relay_peer, true, false))
        .transpose()?;
    if relay_quic6.is_some() && relay_quic.is_none() {
        return Err(format!("--relay-quic6 needs --relay-quic\nusage: {USAGE}"));
    }
    let relay_quic6 = relay_quic6
        .map(|r| relay_path(&r, "relay-quic6", relay_peer, true, true))
        .transpose()?;
    let dht_bootstrap = bootstrap
        .iter()
        .map(|b| split_peer(b).map_err(|e| format!("--dht-bootstrap {b}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(Options {
        relay,
        relay_peer,
        listen_ip,
        listen_port,
        dht_bootstrap,
        ready_timeout: Duration::from_millis(ready_timeout_ms),
        key_file,
        dcutr,
        advertise_dcutr,
        relay_quic,
        quic_port: quic_port.unwrap_or(0),
        relay6,
        relay_quic6,
    })
}

/// Another address of the relay (`--<flag>`): the same peer, on the given path.
fn relay_path(
    s: &str,
    flag: &str,
    relay_peer: PeerId,
    ip6: bool,
    quic: bool,
) -> Result<Multiaddr, String> {
    let (peer, addr) = split_peer(s).map_err(|e| format!("--{flag} {s}: {e}"))?;
    if peer != relay_peer || !on_path(&addr, ip6, quic) {
        let what = if quic {
            "/udp/<port>/quic-v1"
        } else {
            "/tcp/<port>"
        };
        let family = if ip6 { "ip6" } else { "ip4" };
        return Err(format!(
            "--{flag} {s}: must be an /{family}/…{what} address of the --relay peer"
        ));
    }
    Ok(addr)
}

fn parse_num<T: FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("--{name}: not a valid number: {value}"))
}

/// A multiaddr ending in /p2p/<id>: the peer and the full address.
fn split_peer(s: &str) -> Result<(PeerId, Multiaddr), String> {
    let addr: Multiaddr = s.parse().map_err(|e| format!("{e}"))?;
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Ok((peer, addr)),
        _ => Err("must end in /p2p/<peer id>".into()),
    }
}

/// What is still missing before "ready".
#[derive(Default)]
struct Progress {
    tcp_listening: bool,
    relay_dialled: bool,
    /// The QUIC listener's address (with --relay-quic).
    quic_listen_addr: Option<Multiaddr>,
    relay_quic_dialled: bool,
    /// The IPv6 listeners (with --relay6 / --relay-quic6) and our dials of the relay over them.
    tcp6_listening: bool,
    quic6_listen_addr: Option<Multiaddr>,
    relay6_dialled: bool,
    relay_quic6_dialled: bool,
    circuit_listener: Option<ListenerId>,
    reservation: bool,
    relay_addrs: Vec<Multiaddr>,
    /// What the relay's identify observed of us, without /p2p: one per path (IP version and
    /// transport; IPv4 TCP first).
    public_addrs: Vec<Multiaddr>,
    /// DCUtR's CONNECT addresses: the address candidates so far, as libp2p-dcutr keeps them.
    candidates: Vec<Multiaddr>,
    dht_query: Option<kad::QueryId>,
    dht_found: Vec<PeerId>,
    dht_refresh: Option<kad::QueryId>,
    /// Set when joining finished (own-key lookup, then bootstrap).
    dht_peers: Option<Vec<PeerId>>,
    ready: bool,
}

async fn run(o: Options) -> Result<(), String> {
    let key = load_or_create_key(o.key_file.as_deref())?;
    let local_peer = key.public().to_peer_id();
    let version = libp2p_version();
    let agent = format!("punchr-lab-rust-remote rust-libp2p/{version}");

    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| format!("tcp: {e}"))?
        // QUIC only with --relay-quic: without it the remote is exactly the TCP-only one.
        .with_other_transport(|key| {
            if o.relay_quic.is_some() {
                OptionalTransport::some(quic::tokio::Transport::new(quic::Config::new(key)))
            } else {
                OptionalTransport::none()
            }
        })
        .map_err(|e| format!("quic: {e}"))?
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| format!("relay client: {e}"))?
        .with_behaviour(|key, relay| {
            let mut kad_config = kad::Config::new(DHT_PROTOCOL);
            kad_config.set_query_timeout(o.ready_timeout);
            let mut kad = kad::Behaviour::with_config(
                local_peer,
                kad::store::MemoryStore::new(local_peer),
                kad_config,
            );
            kad.set_mode(Some(kad::Mode::Client));
            Behaviour {
                relay,
                dcutr: o.dcutr.then(|| dcutr::Behaviour::new(local_peer)).into(),
                identify: identify::Behaviour::new(
                    identify::Config::new("/ipfs/0.1.0".into(), key.public())
                        .with_agent_version(agent.clone())
                        .with_hide_listen_addrs(true),
                ),
                ping: ping::Behaviour::default(),
                kad,
                local_protocols: LocalProtocols {
                    advertise_dcutr: o.advertise_dcutr,
                    events: VecDeque::new(),
                },
            }
        })
        .map_err(|e| format!("behaviour: {e}"))?
        // 60 s instead of the default 10 s: a node on the real DHT keeps its connections busy;
        // in the quiet lab they would close between two lab steps.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();

    let listen: Multiaddr = format!("/ip4/{}/tcp/{}", o.listen_ip, o.listen_port)
        .parse()
        .map_err(|e| format!("--listen-ip {}: {e}", o.listen_ip))?;
    swarm
        .listen_on(listen.clone())
        .map_err(|e| format!("listen on {listen}: {e}"))?;
    if o.relay_quic.is_some() {
        let quic: Multiaddr = format!("/ip4/{}/udp/{}/quic-v1", o.listen_ip, o.quic_port)
            .parse()
            .map_err(|e| format!("--listen-ip {}: {e}", o.listen_ip))?;
        swarm
            .listen_on(quic.clone())
            .map_err(|e| format!("listen on {quic}: {e}"))?;
    }
    let mut listen6: Vec<Multiaddr> = Vec::new();
    if o.relay6.is_some() || o.relay_quic6.is_some() {
        listen6.push(
            format!("/ip6/::/tcp/{}", o.listen_port)
                .parse()
                .expect("an ip6 multiaddr"),
        );
    }
    if o.relay_quic6.is_some() {
        listen6.push(
            format!("/ip6/::/udp/{}/quic-v1", o.quic_port)
                .parse()
                .expect("an ip6 multiaddr"),
        );
    }
    for addr in listen6 {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| format!("listen on {addr}: {e}"))?;
    }
    info!(peer_id = %local_peer, listen = %listen, quic = ?o.relay_quic.as_ref().map(|_| o.quic_port),
          agent = %agent, dcutr = o.dcutr, advertise_dcutr = o.advertise_dcutr, "host started");

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("SIGINT handler: {e}"))?;
    let deadline = tokio::time::sleep(o.ready_timeout);
    tokio::pin!(deadline);

    let mut p = Progress::default();
    let mut conns: HashMap<ConnectionId, (PeerId, ConnectedPoint)> = HashMap::new();
    loop {
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM"); return Ok(()) }
            _ = sigint.recv() => { info!("SIGINT"); return Ok(()) }
            _ = &mut deadline, if !p.ready => return Err(format!("not ready after {} ms: {}",
                o.ready_timeout.as_millis(), missing(&o, &p))),
            event = swarm.select_next_some() => on_event(&mut swarm, &o, &mut p, &mut conns, event)?,
        }
        advance(&mut swarm, &o, &mut p, &version, &agent)?;
    }
}

fn missing(o: &Options, p: &Progress) -> String {
    let mut m = Vec::new();
    if !p.tcp_listening {
        m.push("the TCP listener");
    }
    if !p.reservation || p.relay_addrs.is_empty() {
        m.push("the relay reservation");
    }
    if !p.public_addrs.iter().any(|a| on_path(a, false, false)) {
        m.push("the relay's observation of our address");
    }
    if !p.candidates.iter().any(|a| on_path(a, false, false)) {
        m.push("an address candidate for DCUtR");
    }
    if o.relay_quic.is_some() {
        if p.quic_listen_addr.is_none() {
            m.push("the QUIC listener");
        }
        if !p.public_addrs.iter().any(|a| on_path(a, false, true)) {
            m.push("the relay's observation of our QUIC address (over a QUIC connection to it)");
        }
        if !p.candidates.iter().any(|a| on_path(a, false, true)) {
            m.push("a QUIC address candidate for DCUtR");
        }
    }
    if o.relay6.is_some() && !path_known(p, true, false) {
        m.push("the relay's observation of our IPv6 TCP address, and its candidate");
    }
    if o.relay_quic6.is_some() && !path_known(p, true, true) {
        m.push("the relay's observation of our IPv6 QUIC address, and its candidate");
    }
    if !o.dht_bootstrap.is_empty() && p.dht_peers.is_none() {
        m.push("the DHT lookup of our own key");
    }
    format!("waiting for {}", m.join(", "))
}

/// Moves on to the next step once the previous one is done; prints the ready line at the end.
fn advance(
    swarm: &mut Swarm<Behaviour>,
    o: &Options,
    p: &mut Progress,
    version: &str,
    agent: &str,
) -> Result<(), String> {
    if p.tcp_listening && !p.relay_dialled {
        // Only now: the TCP listener registered its port for reuse, so the relay client's dial
        // (and every later one) leaves from the listen port and the relay observes the NAT
        // mapping of it. Listening on <relay>/p2p-circuit dials the relay and reserves. No dial
        // of our own before it: the relay client dials with "not connected and not dialling",
        // and a dial of ours in flight makes its dial fail, which closes the circuit listener.
        p.relay_dialled = true;
        let circuit = o.relay.clone().with(Protocol::P2pCircuit);
        p.circuit_listener = Some(
            swarm
                .listen_on(circuit.clone())
                .map_err(|e| format!("listen on {circuit}: {e}"))?,
        );
    }
    let mut relay_done = p.reservation && !p.relay_addrs.is_empty() && path_known(p, false, false);
    if let Some(relay_quic) = &o.relay_quic {
        if relay_done && p.quic_listen_addr.is_some() && !p.relay_quic_dialled {
            // A second connection to the relay, over QUIC from the QUIC listener's socket
            // (PortUse::Reuse), only for identify: the relay tells us our public QUIC address.
            // Only now, after the reservation: a dial of ours before the relay client's makes its
            // dial fail (see above), and the reservation stays on the TCP connection.
            p.relay_quic_dialled = true;
            dial_relay_again(swarm, o.relay_peer, relay_quic)?;
        }
        relay_done = relay_done && path_known(p, false, true);
    }
    // The IPv6 paths, once the IPv4 ones are known: one more connection to the relay each.
    if let Some(relay6) = &o.relay6 {
        if relay_done && p.tcp6_listening && !p.relay6_dialled {
            p.relay6_dialled = true;
            dial_relay_again(swarm, o.relay_peer, relay6)?;
        }
        relay_done = relay_done && path_known(p, true, false);
    }
    if let Some(relay_quic6) = &o.relay_quic6 {
        if relay_done && p.quic6_listen_addr.is_some() && !p.relay_quic6_dialled {
            p.relay_quic6_dialled = true;
            dial_relay_again(swarm, o.relay_peer, relay_quic6)?;
        }
        relay_done = relay_done && path_known(p, true, true);
    }
    if relay_done && !o.dht_bootstrap.is_empty() && p.dht_query.is_none() {
        // Joining the DHT: the bootstrap peers in the routing table, then a lookup of our own key,
        // which connects us to the DHT servers closest to us — the honeypot among them.
        let me = *swarm.local_peer_id();
        let kad = &mut swarm.behaviour_mut().kad;
        for (peer, addr) in &o.dht_bootstrap {
            let without_p2p: Multiaddr = addr
                .iter()
                .filter(|c| !matches!(c, Protocol::P2p(_)))
                .collect();
            kad.add_address(peer, without_p2p);
        }
        p.dht_query = Some(kad.get_closest_peers(me));
        info!("DHT lookup of our own key started");
    }
    if relay_done && (o.dht_bootstrap.is_empty() || p.dht_peers.is_some()) && !p.ready {
        p.ready = true;
        let me = *swarm.local_peer_id();
        let ready = json!({
            "ready": true,
            "peerId": me.to_string(),
            // The relay client's listen address already ends in /p2p/<our id>.
            "relayAddrs": p.relay_addrs.iter().map(|a| with_peer(a, me).to_string()).collect::<Vec<_>>(),
            "publicAddrs": p.public_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "holePunchAddrs": p.candidates.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "dhtPeers": p.dht_peers.clone().unwrap_or_default().iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "impl": "rust",
            "version": version,
            "listenPort": o.listen_port,
            "quicPort": p.quic_listen_addr.as_ref().and_then(udp_port),
            "dcutr": o.dcutr,
            "advertiseDcutr": o.advertise_dcutr,
            "agentVersion": agent,
        });
        print_line(&ready);
        info!(ready = %ready, "remote ready");
    }
    Ok(())
}

fn on_event(
    swarm: &mut Swarm<Behaviour>,
    o: &Options,
    p: &mut Progress,
    conns: &mut HashMap<ConnectionId, (PeerId, ConnectedPoint)>,
    event: SwarmEvent<BehaviourEvent>,
) -> Result<(), String> {
    match event {
        SwarmEvent::NewListenAddr { address, .. } => {
            info!(addr = %address, "listening");
            if is_relayed(&address) {
                if o.relay_quic.is_some()
                    && address.iter().any(|c| c == Protocol::QuicV1)
                    && !swarm.external_addresses().any(|a| a == &address)
                {
                    // The relay client listens through every address of the reservation, the
                    // relay's QUIC one too, but confirms as external (what identify advertises,
                    // so what the honeypot records and the server hands out) only the one it was
                    // told to listen on, TCP. A QUIC client reaches us through the relay over
                    // QUIC; so we confirm that one ourselves, as go-libp2p and js-libp2p advertise
                    // every relay address of their reservations.
                    info!(addr = %address, "confirming the relay's QUIC circuit address as external");
                    swarm.add_external_address(address.clone());
                }
                if !p.relay_addrs.contains(&address) {
                    p.relay_addrs.push(address);
                }
            } else if is_quic(&address) {
                if is_ip6(&address) {
                    p.quic6_listen_addr = Some(address);
                } else {
                    p.quic_listen_addr = Some(address);
                }
            } else if is_ip6(&address) {
                p.tcp6_listening = true;
            } else {
                p.tcp_listening = true;
            }
        }
        SwarmEvent::ExpiredListenAddr { address, .. } => {
            warn!(addr = %address, "listen address expired");
            p.relay_addrs.retain(|a| a != &address);
        }
        SwarmEvent::ListenerClosed {
            listener_id,
            addresses,
            reason,
        } => {
            warn!(addrs = ?addresses, reason = ?reason, "listener closed");
            p.relay_addrs.retain(|a| !addresses.contains(a));
            if Some(listener_id) == p.circuit_listener && !p.ready {
                // The relay client does not retry: a reservation that failed stays failed.
                let why = match reason {
                    Ok(()) => {
                        "the relay client gave up (its dial of the relay failed: see the log)"
                            .to_string()
                    }
                    Err(e) => e.to_string(),
                };
                return Err(format!("no reservation on the relay: {why}"));
            }
        }
        SwarmEvent::NewExternalAddrCandidate { address } => {
            // As libp2p-dcutr's `Candidates` keeps them: relayed ones dropped, /p2p/<us> appended.
            // Identify "translates" an observation whose port we do not listen on against every
            // TCP listen address, the relay circuit one included, which gives nonsense like
            // /ip4/<observed ip>/tcp/<relay port>/p2p/<relay>/p2p-circuit.
            if is_relayed(&address) {
                info!(addr = %address, "address candidate (relayed: DCUtR drops it)");
            } else {
                let address = with_peer(&address, *swarm.local_peer_id());
                info!(addr = %address, "address candidate (DCUtR sends it in CONNECT)");
                if !p.candidates.contains(&address) {
                    p.candidates.push(address);
                }
            }
        }
        SwarmEvent::ExternalAddrConfirmed { address } => {
            info!(addr = %address, "external address confirmed")
        }
        SwarmEvent::ExternalAddrExpired { address } => {
            info!(addr = %address, "external address expired")
        }
        SwarmEvent::ConnectionEstablished {
            peer_id,
            connection_id,
            endpoint,
            num_established,
            ..
        } => {
            let relayed = endpoint.is_relayed();
            // A direct connection to a peer we also reach through the relay: a hole punch.
            let punched = !relayed
                && peer_id != o.relay_peer
                && conns
                    .values()
                    .any(|(peer, ep)| *peer == peer_id && ep.is_relayed());
            info!(peer = %peer_id, connection = %connection_id, remote_addr = %remote_addr(&endpoint),
                  local_addr = ?local_addr(&endpoint), direction = direction(&endpoint),
                  role = role(&endpoint), relayed, punched, num_established = num_established.get(),
                  "connection open");
            conns.insert(connection_id, (peer_id, endpoint));
        }
        SwarmEvent::ConnectionClosed {
            peer_id,
            connection_id,
            endpoint,
            cause,
            ..
        } => {
            conns.remove(&connection_id);
            info!(peer = %peer_id, connection = %connection_id, remote_addr = %remote_addr(&endpoint),
                  relayed = endpoint.is_relayed(), cause = ?cause, "connection closed");
        }
        SwarmEvent::OutgoingConnectionError {
            peer_id,
            connection_id,
            error,
        } => {
            info!(peer = ?peer_id.map(|p| p.to_string()), connection = %connection_id, err = %error,
                  "outgoing connection failed");
        }
        SwarmEvent::IncomingConnectionError {
            connection_id,
            local_addr,
            send_back_addr,
            error,
            ..
        } => {
            info!(connection = %connection_id, local_addr = %local_addr, remote_addr = %send_back_addr,
                  err = %error, "incoming connection failed");
        }
        SwarmEvent::Dialing {
            peer_id,
            connection_id,
        } => {
            debug!(peer = ?peer_id.map(|p| p.to_string()), connection = %connection_id, "dialing");
        }
        SwarmEvent::Behaviour(BehaviourEvent::Relay(e)) => match e {
            relay::client::Event::ReservationReqAccepted {
                relay_peer_id,
                renewal,
                limit,
            } => {
                info!(relay = %relay_peer_id, renewal, limit = ?limit, "reservation accepted");
                p.reservation = true;
            }
            relay::client::Event::InboundCircuitEstablished { src_peer_id, limit } => {
                info!(peer = %src_peer_id, limit = ?limit, "inbound circuit (a relayed connection to us)");
            }
            other => info!(event = ?other, "relay client"),
        },
        SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event {
            remote_peer_id,
            result,
        })) => match result {
            Ok(connection) => {
                info!(peer = %remote_peer_id, connection = %connection, "hole punch succeeded")
            }
            Err(err) => info!(peer = %remote_peer_id, err = %err, "hole punch failed"),
        },
        SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => match e {
            identify::Event::Received {
                connection_id,
                peer_id,
                info,
            } => {
                let via = conns.get(&connection_id).map(|(_, ep)| ep.clone());
                let relayed = via.as_ref().is_some_and(ConnectedPoint::is_relayed);
                info!(peer = %peer_id, agent = %info.agent_version, observed = %info.observed_addr,
                      via = ?via.as_ref().map(remote_addr), relayed,
                      listen_addrs = ?info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                      protocols = ?info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                      "identified");
                if peer_id == o.relay_peer && !relayed && !is_relayed(&info.observed_addr) {
                    // js-libp2p appends /p2p/<our id> to the observed address; keep ip/tcp
                    // (ip/udp/quic-v1 over the QUIC connection).
                    let addr: Multiaddr = info
                        .observed_addr
                        .iter()
                        .filter(|c| !matches!(c, Protocol::P2p(_)))
                        .collect();
                    if !p.public_addrs.contains(&addr) {
                        info!(addr = %addr, "public address learned from the relay");
                        // One per path, the latest; IPv4 TCP first.
                        p.public_addrs.retain(|a| path_of(a) != path_of(&addr));
                        p.public_addrs.push(addr);
                        p.public_addrs.sort_by_key(path_of);
                    }
                }
            }
            identify::Event::Pushed {
                connection_id,
                peer_id,
                info,
            } => {
                // What we advertise on that connection: rust-libp2p lists a protocol per
                // connection, from its handlers (no /libp2p/dcutr on direct ones, stock).
                let relayed = conns
                    .get(&connection_id)
                    .is_some_and(|(_, ep)| ep.is_relayed());
                info!(peer = %peer_id, relayed,
                       listen_addrs = ?info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                       protocols = ?info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                       "identify pushed");
            }
            identify::Event::Sent { .. } => {}
            identify::Event::Error { peer_id, error, .. } => {
                debug!(peer = %peer_id, err = %error, "identify error")
            }
        },
        SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => match e {
            kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetClosestPeers(r),
                step,
                ..
            } if Some(id) == p.dht_query => {
                let peers = match r {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => {
                        if peers.is_empty() {
                            return Err("DHT lookup of our own key: timed out without peers".into());
                        }
                        peers
                    }
                };
                for peer in peers {
                    if !p.dht_found.contains(&peer.peer_id) {
                        p.dht_found.push(peer.peer_id);
                    }
                }
                if step.last {
                    info!(peers = ?p.dht_found.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                          "DHT lookup of our own key done");
                    // What a rust-libp2p node runs when it joins (and Kademlia starts by itself
                    // a moment after its routing table changed): a bootstrap, i.e. the lookup of
                    // our key once more plus one of a random key per bucket. The first lookup
                    // alone can miss a DHT server that the bootstrap peer has not yet put in its
                    // routing table (js-libp2p's kad-dht pings a new peer first): seen in the lab,
                    // where the remotes start a moment after the honeypot.
                    let refresh = swarm
                        .behaviour_mut()
                        .kad
                        .bootstrap()
                        .map_err(|e| format!("DHT bootstrap: {e}"))?;
                    p.dht_refresh = Some(refresh);
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::Bootstrap(r),
                step,
                ..
            } if Some(id) == p.dht_refresh => {
                debug!(result = ?r, last = step.last, "DHT bootstrap step");
                if step.last {
                    let kad = &mut swarm.behaviour_mut().kad;
                    for bucket in kad.kbuckets() {
                        for entry in bucket.iter() {
                            let peer = *entry.node.key.preimage();
                            if !p.dht_found.contains(&peer) {
                                p.dht_found.push(peer);
                            }
                        }
                    }
                    info!(peers = ?p.dht_found.iter().map(|p| p.to_string()).collect::<Vec<_>>(), "joined the DHT");
                    if p.dht_found.is_empty() {
                        return Err("joining the DHT found no peers".into());
                    }
                    p.dht_peers = Some(p.dht_found.clone());
                }
            }
            kad::Event::RoutingUpdated { peer, .. } => {
                debug!(peer = %peer, "DHT routing table updated")
            }
            other => debug!(event = ?other, "kad"),
        },
        SwarmEvent::Behaviour(BehaviourEvent::LocalProtocols(ProtocolsEvent {
            peer,
            connection,
            protocols,
        })) => {
            let relayed = conns
                .get(&connection)
                .is_some_and(|(_, ep)| ep.is_relayed());
            info!(peer = %peer, connection = %connection, relayed, protocols = ?protocols,
                  "our protocols on this connection (what identify lists)");
        }
        SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
            peer,
            connection,
            result,
        })) => match result {
            Ok(rtt) => {
                debug!(peer = %peer, connection = %connection, rtt_ms = rtt.as_secs_f64() * 1e3, "ping")
            }
            Err(err) => debug!(peer = %peer, connection = %connection, err = %err, "ping failed"),
        },
        other => debug!(event = ?other, "swarm"),
    }
    Ok(())
}

/// `addr` ending in /p2p/`peer`.
fn with_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    if addr.iter().last() == Some(Protocol::P2p(peer)) {
        addr.clone()
    } else {
        addr.clone().with(Protocol::P2p(peer))
    }
}

fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| p == Protocol::P2pCircuit)
}

/// A direct QUIC v1 address (`/ip4/…/udp/…/quic-v1`).
fn is_quic(addr: &Multiaddr) -> bool {
    !is_relayed(addr) && addr.iter().any(|p| p == Protocol::QuicV1)
}

/// An IPv6 address.
fn is_ip6(addr: &Multiaddr) -> bool {
    matches!(addr.iter().next(), Some(Protocol::Ip6(_)))
}

/// (IPv6, QUIC): which path through the NATs an address is on.
fn path_of(addr: &Multiaddr) -> (bool, bool) {
    (is_ip6(addr), is_quic(addr))
}

/// A direct address of the given IP version and transport (TCP or QUIC v1).
fn on_path(addr: &Multiaddr, ip6: bool, quic: bool) -> bool {
    let transport = if quic {
        is_quic(addr)
    } else {
        !is_relayed(addr) && addr.iter().any(|p| matches!(p, Protocol::Tcp(_)))
    };
    transport && is_ip6(addr) == ip6
}

/// The relay observed our address on the path, and DCUtR has it as a candidate.
fn path_known(p: &Progress, ip6: bool, quic: bool) -> bool {
    p.public_addrs.iter().any(|a| on_path(a, ip6, quic))
        && p.candidates.iter().any(|a| on_path(a, ip6, quic))
}

/// One more connection to the relay, on another path, only for identify: the relay tells us
/// our public address on that path. Only once the reservation is held (see advance()).
fn dial_relay_again(
    swarm: &mut Swarm<Behaviour>,
    relay: PeerId,
    addr: &Multiaddr,
) -> Result<(), String> {
    let opts = DialOpts::peer_id(relay)
        .addresses(vec![addr.clone()])
        .condition(PeerCondition::Always)
        .build();
    swarm
        .dial(opts)
        .map_err(|e| format!("dial the relay at {addr}: {e}"))?;
    info!(addr = %addr, "dialling the relay on another path");
    Ok(())
}

fn udp_port(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        Protocol::Udp(port) => Some(port),
        _ => None,
    })
}

fn remote_addr(ep: &ConnectedPoint) -> String {
    match ep {
        ConnectedPoint::Dialer { address, .. } => address.to_string(),
        ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr.to_string(),
    }
}

fn local_addr(ep: &ConnectedPoint) -> Option<String> {
    match ep {
        ConnectedPoint::Dialer { .. } => None,
        ConnectedPoint::Listener { local_addr, .. } => Some(local_addr.to_string()),
    }
}

fn direction(ep: &ConnectedPoint) -> &'static str {
    if ep.is_dialer() {
        "outbound"
    } else {
        "inbound"
    }
}

/// The role this side played in the security and muxer handshakes: a DCUtR punch dial of the
/// side that received the relayed connection overrides it to "listener" (the spec's server).
fn role(ep: &ConnectedPoint) -> &'static str {
    match ep {
        ConnectedPoint::Dialer {
            role_override: Endpoint::Listener,
            ..
        } => "listener (dial with role override)",
        ConnectedPoint::Dialer { .. } => "dialer",
        ConnectedPoint::Listener { .. } => "listener",
    }
}

/// What identify lists as our protocols, per connection (rust-libp2p computes them per
/// connection, from the handlers of that connection), reported as events for the log. With
/// `--advertise-dcutr` it also lists /libp2p/dcutr on direct connections, as go-libp2p and
/// js-libp2p do host-wide; a stream opened there is accepted and dropped. On relayed connections
/// it never listens: stock DCUtR handles those.
struct LocalProtocols {
    advertise_dcutr: bool,
    events: VecDeque<ProtocolsEvent>,
}

#[derive(Debug)]
struct ProtocolsEvent {
    peer: PeerId,
    connection: ConnectionId,
    protocols: Vec<String>,
}

impl NetworkBehaviour for LocalProtocols {
    type ConnectionHandler = ProtocolsHandler;
    type ToSwarm = ProtocolsEvent;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        local_addr: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(ProtocolsHandler::new(
            self.advertise_dcutr && !is_relayed(local_addr),
        ))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        addr: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(ProtocolsHandler::new(
            self.advertise_dcutr && !is_relayed(addr),
        ))
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        protocols: THandlerOutEvent<Self>,
    ) {
        self.events.push_back(ProtocolsEvent {
            peer,
            connection,
            protocols,
        });
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ToSwarm<ProtocolsEvent, THandlerInEvent<Self>>> {
        match self.events.pop_front() {
            Some(e) => Poll::Ready(ToSwarm::GenerateEvent(e)),
            None => Poll::Pending,
        }
    }
}

struct ProtocolsHandler {
    advertise_dcutr: bool,
    protocols: BTreeSet<String>,
    changed: bool,
    waker: Option<Waker>,
}

impl ProtocolsHandler {
    fn new(advertise_dcutr: bool) -> Self {
        ProtocolsHandler {
            advertise_dcutr,
            protocols: BTreeSet::new(),
            changed: false,
            waker: None,
        }
    }
}

impl ConnectionHandler for ProtocolsHandler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Vec<String>;
    type InboundProtocol = Either<ReadyUpgrade<StreamProtocol>, DeniedUpgrade>;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        if self.advertise_dcutr {
            SubstreamProtocol::new(Either::Left(ReadyUpgrade::new(DCUTR_PROTOCOL)), ())
        } else {
            SubstreamProtocol::new(Either::Right(DeniedUpgrade), ())
        }
    }

    fn on_behaviour_event(&mut self, never: Infallible) {
        match never {}
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<DeniedUpgrade, (), Vec<String>>> {
        if std::mem::take(&mut self.changed) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(
                self.protocols.iter().cloned().collect(),
            ));
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        match event {
            ConnectionEvent::LocalProtocolsChange(ProtocolsChange::Added(added)) => {
                self.protocols.extend(added.map(|p| p.to_string()));
            }
            ConnectionEvent::LocalProtocolsChange(ProtocolsChange::Removed(removed)) => {
                for p in removed {
                    self.protocols.remove(p.as_ref());
                }
            }
            ConnectionEvent::FullyNegotiatedInbound(_) => {
                // A /libp2p/dcutr stream on a direct connection: nothing to do; dropped.
                return;
            }
            _ => return,
        }
        self.changed = true;
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

fn load_or_create_key(file: Option<&str>) -> Result<identity::Keypair, String> {
    if let Some(file) = file {
        match std::fs::read(file) {
            Ok(bytes) => {
                return identity::Keypair::from_protobuf_encoding(&bytes)
                    .map_err(|e| format!("--key {file}: {e}"))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("--key {file}: {e}")),
        }
    }
    let key = identity::Keypair::generate_ed25519();
    if let Some(file) = file {
        // The same encoding as the js and go lab peers' key files (libp2p protobuf).
        let bytes = key
            .to_protobuf_encoding()
            .map_err(|e| format!("--key {file}: {e}"))?;
        write_private(file, &bytes).map_err(|e| format!("--key {file}: {e}"))?;
    }
    Ok(key)
}

fn write_private(file: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)?
        .write_all(bytes)
}

/// The version of the `libp2p` crate this binary was built with, from the Cargo.lock it was
/// built with (`cargo build --locked`).
fn libp2p_version() -> String {
    let lock = include_str!("../Cargo.lock");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"libp2p\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return v.trim_end_matches('"').to_string();
            }
        }
    }
    "unknown".into()
}

fn print_line(v: &serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// JSON lines on stderr. `PUNCHR_RUST_LOG` is a tracing `Targets` spec (like RUST_LOG without
/// span filters); by default our own lines follow the lab's PUNCHR_LOG_LEVEL (info), rust-libp2p's
/// hole-punch crate logs at debug, everything else at warn.
fn init_logging() {
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};
    let own = match std::env::var("PUNCHR_LOG_LEVEL")
        .unwrap_or_default()
        .as_str()
    {
        "trace" => "trace",
        "debug" => "debug",
        "warn" => "warn",
        "error" | "fatal" => "error",
        "silent" => "off",
        _ => "info",
    };
    let spec = std::env::var("PUNCHR_RUST_LOG")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("warn,rust_remote={own},libp2p_dcutr=debug"));
    let filter = Targets::from_str(&spec)
        .unwrap_or_else(|_| Targets::from_str("warn,rust_remote=info").unwrap());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_writer(std::io::stderr),
        )
        .with(filter)
        .init();
}
