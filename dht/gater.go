package dht

import (
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// allowlist is a connection gater that admits only the listed peer IDs:
// Trireme's PKI mode, identity rather than address. Inbound connections
// are refused once the remote's identity is proven (after the handshake).
type allowlist map[peer.ID]bool

func (a allowlist) InterceptPeerDial(p peer.ID) bool { return a[p] }

func (a allowlist) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return a[p] }

func (a allowlist) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (a allowlist) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return a[p]
}

func (a allowlist) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
