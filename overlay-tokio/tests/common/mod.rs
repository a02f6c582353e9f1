//! A raw TCP client that can behave or misbehave, for integration tests.

#![allow(dead_code)]

use overlay_auth::{Handshake, HelloParams, LocalAuth, MacChannel, NodeIdentity, OpenPolicy, Progress};
use overlay_proto::NetworkId;
use overlay_proto::frame::FrameDecoder;
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::{ErrorCode, StellarMessage};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const UNIX: fn() -> u64 = overlay_tokio::clock::unix_now;

/// Upper bound on any single wait in these tests; a correct run never comes near it.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct RawClient {
    pub stream: TcpStream,
    decoder: FrameDecoder,
    pub channel: Option<MacChannel>,
}

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut decoder = FrameDecoder::new();
        decoder.set_authenticated();
        RawClient { stream, decoder, channel: None }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        // The node may already have closed; a failed write shows in what we read next.
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next frame body, or `None` at end of stream.
    pub async fn read_body(&mut self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Ok(Some(b)) = self.decoder.next_frame() {
                return Some(b.to_vec());
            }
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut buf)).await.expect("the node answered in time");
            match n {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.decoder.feed(&buf[..n]),
            }
        }
    }

    /// Every message until the node closes the connection.
    pub async fn read_until_closed(&mut self) -> Vec<StellarMessage> {
        let mut out = Vec::new();
        while let Some(b) = self.read_body().await {
            if let Ok(m) = RawMessage::parse(&b).and_then(|r| r.decode()) {
                out.push(m);
            }
        }
        out
    }

    /// Complete a handshake as initiator with `auth`'s identity and return the channel
    /// state after it (ready to seal our next message and open the node's).
    pub async fn handshake(&mut self, auth: &mut LocalAuth) {
        let mut hs: Handshake = auth.initiate(UNIX(), [0x42; 32]);
        loop {
            while let Some(f) = hs.poll_transmit() {
                self.send_raw(&f).await;
            }
            let body = self.read_body().await.expect("the node kept the connection");
            let step = hs.handle_frame(&body, UNIX(), &OpenPolicy).expect("handshake step");
            if let Progress::Established(e) = step {
                while let Some(f) = hs.poll_transmit() {
                    self.send_raw(&f).await;
                }
                self.channel = Some(e.channel);
                return;
            }
        }
    }

    /// Seal `msg` with our channel (which advances our sequence) and return the frame.
    pub fn seal(&mut self, msg: &StellarMessage) -> Vec<u8> {
        let mut f = Vec::new();
        self.channel.as_mut().expect("handshake done").seal(msg, &mut f).unwrap();
        f
    }
}

pub fn local_auth(seed: u8, network: NetworkId) -> LocalAuth {
    LocalAuth::new(NodeIdentity::from_seed([seed; 32]), network, [seed ^ 0x5a; 32], HelloParams::default())
}

/// The single ERROR among `msgs`, as (code, text).
pub fn the_error(msgs: &[StellarMessage]) -> Option<(ErrorCode, String)> {
    let errors: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            StellarMessage::ErrorMsg(e) => Some((e.code, e.msg.to_utf8_string_lossy())),
            _ => None,
        })
        .collect();
    assert!(errors.len() <= 1, "at most one ERROR: {errors:?}");
    errors.into_iter().next()
}
