//! Network identity: `networkID = SHA-256(NETWORK_PASSPHRASE)` (PROTOCOL.md §3.2).

use core::fmt;
use core::str::FromStr;
use sha2::{Digest, Sha256};

/// The 32-byte id of a Stellar network.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkId(pub [u8; 32]);

impl NetworkId {
    /// The id of the network with this passphrase.
    ///
    /// ```
    /// use overlay_proto::NetworkId;
    /// let id = NetworkId::from_passphrase("Test SDF Network ; September 2015");
    /// assert_eq!(id.to_string(), "cee0302d59844d32bdca915c8203dd44b33fbb7edc19051ea37abedf28ecd472");
    /// ```
    pub fn from_passphrase(passphrase: &str) -> Self {
        NetworkId(Sha256::digest(passphrase.as_bytes()).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkId({self})")
    }
}

/// The well-known networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    /// The public network.
    Pubnet,
    /// The SDF test network.
    Testnet,
    /// The SDF future network.
    Futurenet,
    /// A standalone network, as stellar-core runs with `RUN_STANDALONE`.
    Standalone,
}

impl Network {
    /// All named networks.
    pub const ALL: [Network; 4] = [Network::Pubnet, Network::Testnet, Network::Futurenet, Network::Standalone];

    /// The network passphrase.
    pub const fn passphrase(self) -> &'static str {
        match self {
            Network::Pubnet => "Public Global Stellar Network ; September 2015",
            Network::Testnet => "Test SDF Network ; September 2015",
            Network::Futurenet => "Test SDF Future Network ; October 2022",
            Network::Standalone => "Standalone Network ; February 2017",
        }
    }

    /// The network id.
    pub fn id(self) -> NetworkId {
        NetworkId::from_passphrase(self.passphrase())
    }

    /// The name accepted by [`FromStr`].
    pub const fn name(self) -> &'static str {
        match self {
            Network::Pubnet => "pubnet",
            Network::Testnet => "testnet",
            Network::Futurenet => "futurenet",
            Network::Standalone => "standalone",
        }
    }
}

/// An unknown network name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network name (expected pubnet, testnet, futurenet or standalone)")]
pub struct UnknownNetwork;

impl FromStr for Network {
    type Err = UnknownNetwork;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pubnet" | "public" | "mainnet" => Ok(Network::Pubnet),
            "testnet" | "test" => Ok(Network::Testnet),
            "futurenet" => Ok(Network::Futurenet),
            "standalone" => Ok(Network::Standalone),
            _ => Err(UnknownNetwork),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_network_ids() {
        // Standalone id as recorded in spec/vectors.
        assert_eq!(
            Network::Standalone.id().to_string(),
            "baefd734b8d3e48472cff83912375fedbc7573701912fe308af730180f97d74a"
        );
        assert_eq!(
            Network::Testnet.id().to_string(),
            "cee0302d59844d32bdca915c8203dd44b33fbb7edc19051ea37abedf28ecd472"
        );
        assert_eq!(
            Network::Pubnet.id().to_string(),
            "7ac33997544e3175d266bd022439b22cdb16508c01163f26e5cb2a3e1045a979"
        );
        for n in Network::ALL {
            assert_eq!(n.name().parse::<Network>(), Ok(n));
        }
        assert!("nope".parse::<Network>().is_err());
    }
}
