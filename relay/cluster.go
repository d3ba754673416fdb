package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
)

// maxHops is the longest hop list moq-lite carries (the wire's limit):
// an announcement that long is refused.
const maxHops = 32

// newOriginID returns a random hop ID: non-zero and below 2^53, what
// JavaScript peers can decode.
func newOriginID() uint64 { return rand.Uint64()&(1<<53-1) | 1 }

// OriginID returns the relay's hop ID: Options.OriginID, or the random one
// New chose. Announcements whose hop list contains it are refused (they
// passed through this relay already). Give it to the moqt.Server that
// serves the relay (Config.OriginID) so that peers leave this relay's own
// broadcasts out of what they announce to it.
func (r *Relay) OriginID() uint64 { return r.origin }

// route is one way to reach a broadcast: a session's announcement of it,
// published in the relay's mux while it is the best route of its path.
type route struct {
	ann  *moqt.Announcement // the session's, in the relay's namespace
	b    *broadcast
	hops int
	seq  uint64 // arrival order
}

// routeTable holds every route to every broadcast and publishes the best
// of each path in the mux: the fewest hops, and among those the newest
// (so that a publisher that reconnects takes over its broadcast). When
// the best route ends the next best is published. A change of route is
// announced as a new announcement, carrying the new hop list.
type routeTable struct {
	mu     sync.Mutex
	next   uint64
	byPath map[string]*routeSet
}

type routeSet struct {
	routes []*route
	active *route
}

// add adds rt to the routes of its path, publishing it in mux if it is
// now the best.
func (t *routeTable) add(mux *moqt.TrackMux, rt *route) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !rt.ann.IsActive() {
		return // ended already: remove came first, or will find nothing
	}
	if t.byPath == nil {
		t.byPath = make(map[string]*routeSet)
	}
	t.next++
	rt.seq = t.next
	p := string(rt.ann.BroadcastPath())
	set := t.byPath[p]
	if set == nil {
		set = &routeSet{}
		t.byPath[p] = set
	}
	set.routes = append(set.routes, rt)
	t.elect(mux, set)
}

// remove removes rt (whose announcement ended), publishing the next best
// route of its path, if any.
func (t *routeTable) remove(mux *moqt.TrackMux, rt *route) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := string(rt.ann.BroadcastPath())
	set := t.byPath[p]
	if set == nil {
		return
	}
	set.routes = slices.DeleteFunc(set.routes, func(x *route) bool { return x == rt })
	if len(set.routes) == 0 {
		delete(t.byPath, p)
		return // rt's announcement in the mux ended with rt's
	}
	if set.active == rt {
		set.active = nil
	}
	t.elect(mux, set)
}

// elect publishes the best route of set if it is not the one published.
// The mux is called with t.mu held (t.mu before the mux's lock; the mux
// never calls back into the table).
func (t *routeTable) elect(mux *moqt.TrackMux, set *routeSet) {
	var best *route
	for _, rt := range set.routes {
		if best == nil || rt.hops < best.hops || rt.hops == best.hops && rt.seq > best.seq {
			best = rt
		}
	}
	if best == set.active {
		return
	}
	set.active = best
	// Its own announcement in the mux, which ends with the route's, or
	// when the mux replaces it with a better route's.
	mux.Announce(best.ann.WithPath(best.ann.BroadcastPath()), best.b)
}

// routes returns the number of routes to the broadcast at path.
func (t *routeTable) routes(path moqt.BroadcastPath) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if set := t.byPath[string(path)]; set != nil {
		return len(set.routes)
	}
	return 0
}

// PeerOptions configures the link Relay.Peer keeps to another relay.
type PeerOptions struct {
	// TLSConfig verifies the peer; nil means the system roots. An
	// http:// URL pins the certificate whose hash the peer serves instead.
	TLSConfig *tls.Config
	// QUICConfig is the QUIC configuration; nil means quic-go's defaults.
	QUICConfig *quic.Config
	// Config holds the MoQ settings of the link; its OriginID, when zero,
	// is the relay's (OriginID). Nil means the defaults.
	Config *moqt.Config
}

// Peer links the relay to another relay at rawURL (https:// for
// WebTransport, moqt:// for native QUIC, http:// for WebTransport pinning
// the certificate hash the peer serves at /certificate.sha256, ws:// or
// wss:// for QMux over WebSocket; a ?jwt= in it authenticates the relay
// to its peer). It dials the peer as a client and serves the session like
// any other: the relay's mux is published to the peer, and the broadcasts
// the peer announces are relayed here, so one session carries
// announcements and subscriptions both ways. The peer may subscribe to
// everything in the mux.
//
// The link is kept up until the relay closes: after a failed dial or the
// end of the session it dials again, after an exponential backoff with
// jitter (100 ms doubling, at most 10 s; reset by a session that lasted
// 10 s). Each failure is logged at warn, with the URL's jwt redacted.
// Close ends the link and waits for it.
func (r *Relay) Peer(rawURL string, opts *PeerOptions) {
	if opts == nil {
		opts = &PeerOptions{}
	}
	cfg := &moqt.Config{}
	if opts.Config != nil {
		*cfg = *opts.Config
	}
	if cfg.OriginID == 0 {
		cfg.OriginID = r.origin
	}
	c := &moqt.Client{TLSConfig: opts.TLSConfig, QUICConfig: opts.QUICConfig, Config: cfg, Logger: r.opts.Logger}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer c.Close()
		r.keepPeer(c, rawURL)
	}()
}

const (
	peerMinBackoff = 100 * time.Millisecond
	peerMaxBackoff = 10 * time.Second
)

// keepPeer dials the peer and serves its sessions until the relay closes.
func (r *Relay) keepPeer(c *moqt.Client, rawURL string) {
	shown := redactURL(rawURL)
	backoff := peerMinBackoff
	for attempt := 1; ; attempt++ {
		sess, err := c.Dial(r.ctx, rawURL, r.mux)
		if r.ctx.Err() != nil {
			if sess != nil {
				sess.Terminate(moqt.NoError, "relay closing")
			}
			return
		}
		if err != nil {
			r.logger.Warn("relay: peer dial failed", "peer", shown, "attempt", attempt, "retry_in", backoff, "error", redactError(err, rawURL))
		} else {
			r.logger.Info("relay: peer connected", "peer", shown, "version", sess.Version().String())
			r.metrics.setTransport(sess, transportOfURL(rawURL))
			stop := context.AfterFunc(r.ctx, func() { sess.Terminate(moqt.NoError, "relay closing") })
			start := time.Now()
			r.ServeSession(sess)
			stop()
			if r.ctx.Err() != nil {
				return
			}
			attempt = 0
			if time.Since(start) >= peerMaxBackoff {
				// A link that held; one that a peer ends at once (a
				// refused token, say) keeps backing off.
				backoff = peerMinBackoff
			}
			reason := "closed"
			if err := context.Cause(sess.Context()); err != nil {
				reason = err.Error()
			}
			r.logger.Warn("relay: peer session ended, dialing again", "peer", shown, "retry_in", backoff, "reason", reason)
		}
		// Jitter: between half and all of the backoff, so that relays
		// that lost a peer together do not dial it in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, peerMaxBackoff)
	}
}

// redactURL returns rawURL with the value of its jwt parameter hidden.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	if q.Has("jwt") {
		q.Set("jwt", "redacted")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactError returns err, or an error with rawURL's token hidden if its
// text shows it.
func redactError(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil {
		return err
	}
	tok := u.Query().Get("jwt")
	if tok == "" {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, tok) {
		return err
	}
	return errors.New(strings.ReplaceAll(msg, tok, "redacted"))
}

// transportOfURL names the transport of a peer URL, for the metrics.
func transportOfURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return transportWebTransport
	}
	switch u.Scheme {
	case "moqt":
		return transportQUIC
	case "ws", "wss":
		return transportWebSocket
	}
	return transportWebTransport
}
