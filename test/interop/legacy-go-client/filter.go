package main

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
)

// protocolFilter applies the server's protocol filter to DCUtR, as the original did: its fork of
// go-libp2p 0.23 (go.mod's replace) has a hole punch address filter (upstream since v0.24.0).
// Of our own addresses sent in CONNECT and of the remote's addresses received in it, only those
// containing every protocol of the filter are kept; with no filter, every non-relay address.
// The filter is the host's, set from each GetAddrInfo answer, whatever the remote: the original
// kept it that way. A filter that leaves nothing makes the fork end the attempt with a protocol
// error ("… don't have any public addresses" / "… at least one address").
type protocolFilter struct {
	mu    sync.RWMutex
	codes []int32
}

var _ holepunch.AddrFilter = (*protocolFilter)(nil)

// set makes codes (multicodec codes, as the server sent them) the filter from now on.
func (f *protocolFilter) set(codes []int32) {
	f.mu.Lock()
	f.codes = codes
	f.mu.Unlock()
}

func (f *protocolFilter) FilterLocal(remote peer.ID, maddrs []ma.Multiaddr) []ma.Multiaddr {
	return f.filter(maddrs)
}

func (f *protocolFilter) FilterRemote(remote peer.ID, maddrs []ma.Multiaddr) []ma.Multiaddr {
	return f.filter(maddrs)
}

func (f *protocolFilter) filter(maddrs []ma.Multiaddr) []ma.Multiaddr {
	f.mu.RLock()
	defer f.mu.RUnlock()
	kept := make([]ma.Multiaddr, 0, len(maddrs))
	for _, addr := range maddrs {
		if isRelayAddr(addr) || !hasEvery(addr, f.codes) {
			continue
		}
		kept = append(kept, addr)
	}
	return kept
}

// hasEvery reports whether addr contains every protocol of codes (true for none). A code
// go-multiaddr 0.7 does not know (quic-v1, 461) is in no address: such a filter keeps nothing.
func hasEvery(addr ma.Multiaddr, codes []int32) bool {
	for _, code := range codes {
		if _, err := addr.ValueForProtocol(int(code)); err != nil {
			return false
		}
	}
	return true
}
