package relay

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"

	"github.com/gomoq/gomoq/moqt"
)

// meshPrefix is where each relay of a mesh announces its URL: one
// broadcast per node, at meshPrefix + the URL in unpadded base64url.
const meshPrefix = ".cluster/nodes/"

// MeshOptions configures Relay.Mesh.
type MeshOptions struct {
	// Node is the URL other relays dial to reach this one, in a form
	// Peer takes; required.
	Node string
	// Token, when set, is added as ?jwt= to the URLs of the nodes dialed
	// (those that carry none).
	Token string
	// Peer configures the links the mesh dials (see Peer).
	Peer *PeerOptions
}

// Mesh joins the relay to a mesh: it announces opts.Node at
// ".cluster/nodes/<base64url(Node)>", a broadcast with no tracks that the
// relay's links carry to the whole cluster like any other, and for each
// node it learns of that way and has no direct link to (its announcement
// came through other relays), the one of the two whose URL sorts first
// dials the other (Peer), so that every pair of nodes ends up linked once.
// Links made by the mesh are kept like those of Peer until the relay
// closes. Call it once, before or after Peer.
func (r *Relay) Mesh(opts MeshOptions) {
	r.meshMu.Lock()
	defer r.meshMu.Unlock()
	if r.mesh != nil || opts.Node == "" {
		return
	}
	r.mesh = &opts
	r.meshDialed = map[string]bool{}
	path := moqt.BroadcastPath("/" + meshPrefix + base64.RawURLEncoding.EncodeToString([]byte(opts.Node)))
	r.mux.Publish(r.ctx, path, moqt.TrackHandlerFunc(func(tw *moqt.TrackWriter) { tw.CloseWithError(moqt.NotFoundError) }))
	r.logger.Info("relay: mesh joined", "node", redactURL(opts.Node))
}

// meshLearned is called after every route a session announces is added:
// a node of the mesh, at path, is dialed if it is this relay's turn.
func (r *Relay) meshLearned(path moqt.BroadcastPath) {
	enc, ok := strings.CutPrefix(strings.TrimPrefix(string(path), "/"), meshPrefix)
	if !ok {
		return
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return
	}
	node := string(b)
	hops := r.routes.bestHops(path)
	r.meshMu.Lock()
	m := r.mesh
	if m == nil || node == m.Node || r.meshDialed[node] || r.linked(node) || hops < 2 || !(m.Node < node) {
		// Not in a mesh; ourselves; dialed already (by the mesh or
		// Peer); linked directly (the best route has one hop: its own
		// announcement, over a link it made); or its turn to dial.
		r.meshMu.Unlock()
		return
	}
	u, err := url.Parse(node)
	if err != nil || checkMeshURL(u) != nil {
		r.meshMu.Unlock()
		r.logger.Warn("relay: mesh: a node announced a URL that cannot be dialed", "node", redactURL(node))
		return
	}
	r.meshDialed[node] = true
	r.meshMu.Unlock()
	if q := u.Query(); m.Token != "" && !q.Has("jwt") {
		q.Set("jwt", m.Token)
		u.RawQuery = q.Encode()
	}
	r.logger.Info("relay: mesh: dialing a node learned through the cluster", "node", redactURL(node), "hops", hops)
	if r.ctx.Err() == nil {
		r.Peer(u.String(), m.Peer)
	}
}

// linked reports whether Peer was called for node's URL (its query aside).
func (r *Relay) linked(node string) bool {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	for _, l := range r.peers {
		if stripQuery(l.url) == stripQuery(node) {
			return true
		}
	}
	return false
}

func stripQuery(s string) string {
	s, _, _ = strings.Cut(s, "?")
	return s
}

// checkMeshURL refuses what Peer cannot dial.
func checkMeshURL(u *url.URL) error {
	switch u.Scheme {
	case "https", "http", "moqt", "ws", "wss":
		if u.Host != "" {
			return nil
		}
	}
	return errMeshURL
}

var errMeshURL = errors.New("relay: a node URL Peer cannot dial")
