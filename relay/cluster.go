package relay

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
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

// route is one way to reach a broadcast: a session's announcement of it.
type route struct {
	ann    *moqt.Announcement // the session's, in the relay's namespace
	sess   *moqt.Session      // the announcing session
	remote moqt.BroadcastPath // the broadcast's path in sess's namespace
	stats  *sessionStats      // sess's
	hops   []uint64
	seq    uint64 // arrival order
}

// routeTable holds every route to every broadcast, and publishes each path
// that has one in the mux, served by the path's broadcast. The best route
// of a path is the one new upstream subscriptions use: the fewest hops;
// among those, the lowest hash of the path and hop list (so that every
// relay that sees the same candidates picks the same one); among those,
// the newest (a publisher that reconnects takes over its broadcast).
//
// A path's announcement lives as long as the path has a route, with the
// hop list of the best one (announced again when that changes), and:
//   - when its last route ends cleanly (the publisher ended the broadcast,
//     or its session closed without error) the announcement ends at once;
//   - when the last route's session died, the broadcast lingers (stays
//     announced, its tracks waiting for a source) for Options.BroadcastLinger;
//     a route that arrives meanwhile resumes it.
//
// The broadcast (the handler, with its tracks) outlives its announcement
// while tracks are relayed, so that a path announced again is served by the
// same tracks and upstream subscriptions.
type routeTable struct {
	relay *Relay
	// serial is held by whoever changes the table, from the change of
	// state to the calls into the mux that publish it (never while
	// waiting for anything else): so the mux sees the changes in the
	// order they were made. mu guards the state; it is never held across
	// a call out of the table.
	serial chan struct{}
	mu     sync.Mutex
	next   uint64
	byPath map[string]*pathEntry
}

// pathEntry is the state of one path in the table.
type pathEntry struct {
	path     moqt.BroadcastPath
	routes   []*route
	active   *route             // the best route; nil while none
	pub      *moqt.Announcement // published in the mux; nil when not
	lingerT  *time.Timer        // running while the broadcast lingers
	changed  chan struct{}      // closed and replaced when active changes
	b        *broadcast
	lingered bool // the last route died: waiting for another
}

func (t *routeTable) lock() {
	t.serial <- struct{}{}
	t.mu.Lock()
}

// unlock releases the state and runs the mux calls the change needs, in
// order, before letting the next change in.
func (t *routeTable) unlock(ops []func()) {
	t.mu.Unlock()
	for _, op := range ops {
		op()
	}
	<-t.serial
}

// entryLocked returns the entry of path, created if needed.
func (t *routeTable) entryLocked(path moqt.BroadcastPath) *pathEntry {
	p := string(path)
	e := t.byPath[p]
	if e == nil {
		e = &pathEntry{path: path, changed: make(chan struct{})}
		e.b = &broadcast{relay: t.relay, path: path, entry: e}
		t.byPath[p] = e
	}
	return e
}

// add adds rt to the routes of its path, publishing the path if needed.
func (t *routeTable) add(rt *route) {
	t.lock()
	var ops []func()
	defer func() { t.unlock(ops) }()
	if !rt.ann.IsActive() {
		return // ended already: remove came first, or will find nothing
	}
	t.next++
	rt.seq = t.next
	e := t.entryLocked(rt.ann.BroadcastPath())
	e.routes = append(e.routes, rt)
	if e.lingerT != nil {
		e.lingerT.Stop()
		e.lingerT = nil
	}
	if e.lingered {
		e.lingered = false
		t.relay.logger.Info("relay: broadcast resumed", "path", e.path.String(), "remote", rt.sess.RemoteAddr())
	}
	ops = t.electLocked(e)
}

// remove removes rt, whose announcement ended. died says that its session
// ended with an error: if rt was the path's last route, the broadcast
// lingers.
func (t *routeTable) remove(rt *route, died bool) {
	t.lock()
	var ops []func()
	defer func() { t.unlock(ops) }()
	e := t.byPath[string(rt.ann.BroadcastPath())]
	if e == nil || !slices.Contains(e.routes, rt) {
		return
	}
	e.routes = slices.DeleteFunc(e.routes, func(x *route) bool { return x == rt })
	if len(e.routes) > 0 {
		ops = t.electLocked(e)
		return
	}
	t.setActiveLocked(e, nil)
	linger := t.relay.opts.broadcastLinger()
	if died && linger > 0 && t.relay.ctx.Err() == nil && e.pub != nil {
		e.lingered = true
		t.relay.logger.Info("relay: publisher lost, broadcast lingers", "path", e.path.String(), "linger", linger)
		e.lingerT = time.AfterFunc(linger, func() { t.expire(e) })
		return
	}
	ops = t.unpublishLocked(e)
}

// stopLingering ends the lingering of every broadcast (the relay closes).
func (t *routeTable) stopLingering() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.byPath {
		if e.lingerT != nil {
			e.lingerT.Stop()
			e.lingerT = nil
		}
	}
}

// expire ends a lingering broadcast that no route resumed.
func (t *routeTable) expire(e *pathEntry) {
	t.lock()
	var ops []func()
	defer func() { t.unlock(ops) }()
	if !e.lingered || len(e.routes) > 0 || t.byPath[string(e.path)] != e {
		return
	}
	e.lingered = false
	e.lingerT = nil
	t.relay.logger.Info("relay: lingering broadcast ended, no publisher came back", "path", e.path.String())
	ops = t.unpublishLocked(e)
}

// unpublishLocked ends the path's announcement; the entry goes once its
// broadcast relays no track either.
func (t *routeTable) unpublishLocked(e *pathEntry) []func() {
	e.lingered = false
	close(e.changed) // waiters for a source see there is none
	e.changed = make(chan struct{})
	pub := e.pub
	e.pub = nil
	e.b.open.Store(false)
	t.gcLocked(e)
	if pub == nil {
		return nil
	}
	return []func(){pub.End}
}

// gcLocked forgets e once nothing refers to it.
func (t *routeTable) gcLocked(e *pathEntry) {
	if len(e.routes) == 0 && e.pub == nil && !e.lingered && e.b.tracks.Load() == 0 && t.byPath[string(e.path)] == e {
		delete(t.byPath, string(e.path))
	}
}

// trackEnded is called by b when one of its tracks ended.
func (t *routeTable) trackEnded(e *pathEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gcLocked(e)
}

func (t *routeTable) setActiveLocked(e *pathEntry, rt *route) {
	if e.active == rt {
		return
	}
	e.active = rt
	close(e.changed)
	e.changed = make(chan struct{})
}

// electLocked makes the best route of e active and returns the mux calls
// that publish it: a new announcement when the path was not published or
// when the hop list changed (so that loops stay detectable).
func (t *routeTable) electLocked(e *pathEntry) []func() {
	var best *route
	for _, rt := range e.routes {
		if best == nil || better(e.path, rt, best) {
			best = rt
		}
	}
	t.setActiveLocked(e, best)
	if e.pub != nil && slices.Equal(e.pub.Hops(), best.hops) {
		return nil // the same announcement still says it
	}
	ann, _ := moqt.NewRelayedAnnouncement(t.relay.ctx, e.path, best.hops)
	e.pub = ann
	e.b.open.Store(true)
	b := e.b
	// Announcing replaces the older announcement of the path, if any;
	// but never a broadcast the relay's owner publishes in the mux itself
	// (a moq-lite-03 link, with no hop IDs, can bring it back as a route).
	return []func(){func() {
		if h, ok := t.relay.mux.Handler(e.path); ok {
			if _, routed := h.(*broadcast); !routed {
				ann.End()
				return
			}
		}
		t.relay.mux.Announce(ann, b)
	}}
}

// better reports whether route a beats route b to path.
func better(path moqt.BroadcastPath, a, b *route) bool {
	if len(a.hops) != len(b.hops) {
		return len(a.hops) < len(b.hops)
	}
	if ha, hb := routeHash(path, a.hops), routeHash(path, b.hops); ha != hb {
		return ha < hb
	}
	return a.seq > b.seq
}

// routeHash hashes a path and a hop list: the tie-break between routes of
// the same length, the same on every relay.
func routeHash(path moqt.BroadcastPath, hops []uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(path))
	var b [8]byte
	for _, x := range hops {
		binary.BigEndian.PutUint64(b[:], x)
		h.Write(b[:])
	}
	return h.Sum64()
}

// bestHops returns the hop count of path's best route (0: none).
func (t *routeTable) bestHops(path moqt.BroadcastPath) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.byPath[string(path)]; e != nil && e.active != nil {
		return len(e.active.hops)
	}
	return 0
}

// errNoRoute is why a track's upstream cannot resume: its broadcast ended.
var errNoRoute = &moqt.SubscribeError{Code: moqt.NotFoundError}

// source returns the route a new upstream subscription of e's broadcast
// should use: the active route, if it is not skip (whose session died),
// waiting while the broadcast lingers. It fails once the broadcast ended.
func (t *routeTable) source(ctx context.Context, e *pathEntry, skip *route) (*route, error) {
	for {
		t.mu.Lock()
		rt, changed, waiting := e.active, e.changed, e.lingered
		if rt != nil && rt != skip {
			t.mu.Unlock()
			return rt, nil
		}
		// The dead route is still active until its announcement's end is
		// processed; otherwise only a lingering broadcast can get one.
		waiting = waiting || rt != nil
		t.mu.Unlock()
		if !waiting {
			return nil, errNoRoute
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
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
	l := &peerLink{url: redactURL(rawURL), state: PeerDialing}
	r.peersMu.Lock()
	r.peers = append(r.peers, l)
	r.peersMu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer c.Close()
		r.keepPeer(c, rawURL, l)
	}()
}

// The states of a peer link (PeerStatus.State).
const (
	PeerDialing   = "dialing"   // a dial is under way
	PeerConnected = "connected" // the session is up
	PeerBackoff   = "backoff"   // waiting to dial again after a failure
)

// peerLink is the state of one link Peer keeps, for Cluster and the
// metrics. Its fields are written by the link's goroutine.
type peerLink struct {
	url string // redacted

	mu        sync.Mutex
	state     string
	sess      *moqt.Session // while connected
	since     time.Time     // of the state
	failures  int64         // dials failed and sessions ended, in all
	attempts  int           // consecutive failed dials
	lastError string
	retryAt   time.Time // in backoff
}

func (l *peerLink) set(f func(l *peerLink)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

// PeerStatus describes a link Peer keeps to another relay.
type PeerStatus struct {
	URL       string    `json:"url"`   // with its jwt redacted
	State     string    `json:"state"` // PeerDialing, PeerConnected or PeerBackoff
	Since     time.Time `json:"since"` // when it entered State
	Version   string    `json:"version,omitempty"`
	Remote    string    `json:"remote,omitempty"`
	RTTMillis float64   `json:"rtt_ms,omitempty"` // smoothed, when the transport measures it
	// Failures counts the failed dials and ended sessions of the link;
	// Attempts the failed dials since the last session; LastError is the
	// latest failure (redacted). RetryAt is when a link in backoff dials
	// again.
	Failures  int64     `json:"failures"`
	Attempts  int       `json:"attempts,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	RetryAt   time.Time `json:"retry_at,omitzero"`
	// Traffic of the current session: groups and payload bytes received
	// from the peer's broadcasts and sent to its subscriptions, and the
	// upstream subscriptions this relay holds over the link.
	GroupsIn  int64  `json:"groups_in"`
	BytesIn   int64  `json:"bytes_in"`
	GroupsOut uint64 `json:"groups_out"`
	BytesOut  uint64 `json:"bytes_out"`
	Upstreams int64  `json:"upstream_subscriptions"`
}

// RouteStatus describes how the relay reaches one broadcast.
type RouteStatus struct {
	Path string `json:"path"`
	// Hops of the route new subscriptions take (the best one), oldest
	// first; Via is the remote address of the session it comes by.
	Hops      []uint64 `json:"hops"`
	Via       string   `json:"via,omitempty"`
	Routes    int      `json:"routes"`              // routes known to the path
	Lingering bool     `json:"lingering,omitempty"` // its last publisher's session died; waiting for one
	Tracks    int64    `json:"tracks"`              // tracks relayed
}

// ClusterStatus is what Cluster reports.
type ClusterStatus struct {
	OriginID uint64        `json:"origin_id"`
	Peers    []PeerStatus  `json:"peers"`
	Routes   []RouteStatus `json:"routes"`
}

// Cluster reports the relay's links to its peers and the routes of its
// broadcasts, sorted by URL and path.
func (r *Relay) Cluster() ClusterStatus {
	st := ClusterStatus{OriginID: r.origin, Peers: []PeerStatus{}, Routes: []RouteStatus{}}
	r.peersMu.Lock()
	links := slices.Clone(r.peers)
	r.peersMu.Unlock()
	for _, l := range links {
		l.mu.Lock()
		ps := PeerStatus{URL: l.url, State: l.state, Since: l.since, Failures: l.failures, Attempts: l.attempts, LastError: l.lastError}
		if l.state == PeerBackoff {
			ps.RetryAt = l.retryAt
		}
		sess := l.sess
		l.mu.Unlock()
		if sess != nil {
			ps.Version = sess.Version().String()
			ps.Remote = sess.RemoteAddr()
			if rtt, ok := sess.RTT(); ok {
				ps.RTTMillis = float64(rtt.Microseconds()) / 1000
			}
			ss := r.sessionStats(sess)
			ps.GroupsIn, ps.BytesIn = ss.groupsIn.Load(), ss.bytesIn.Load()
			ps.GroupsOut, ps.BytesOut, _ = ss.out()
			ps.Upstreams = ss.upstreams.Load()
		}
		st.Peers = append(st.Peers, ps)
	}
	slices.SortFunc(st.Peers, func(a, b PeerStatus) int { return strings.Compare(a.URL, b.URL) })
	var vias []*moqt.Session // of st.Routes, asked for their address once the table is unlocked
	r.routes.mu.Lock()
	for _, e := range r.routes.byPath {
		rs := RouteStatus{Path: e.path.String(), Hops: []uint64{}, Routes: len(e.routes), Lingering: e.lingered, Tracks: e.b.tracks.Load()}
		var via *moqt.Session
		if e.active != nil {
			rs.Hops = slices.Clone(e.active.hops)
			via = e.active.sess
		}
		st.Routes = append(st.Routes, rs)
		vias = append(vias, via)
	}
	r.routes.mu.Unlock()
	for i, sess := range vias {
		if sess != nil {
			st.Routes[i].Via = sess.RemoteAddr()
		}
	}
	slices.SortFunc(st.Routes, func(a, b RouteStatus) int { return strings.Compare(a.Path, b.Path) })
	return st
}

// ClusterHandler serves Cluster as JSON (GET only). It shows the relay's
// topology and peer URLs (tokens redacted): serve it on an internal
// listener only.
func (r *Relay) ClusterHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(r.Cluster())
	})
}

const (
	peerMinBackoff = 100 * time.Millisecond
	peerMaxBackoff = 10 * time.Second
)

// keepPeer dials the peer and serves its sessions until the relay closes.
func (r *Relay) keepPeer(c *moqt.Client, rawURL string, l *peerLink) {
	shown := redactURL(rawURL)
	backoff := peerMinBackoff
	for attempt := 1; ; attempt++ {
		l.set(func(l *peerLink) { l.state, l.since = PeerDialing, time.Now() })
		sess, err := c.Dial(r.ctx, rawURL, r.mux)
		if r.ctx.Err() != nil {
			if sess != nil {
				sess.Terminate(moqt.NoError, "relay closing")
			}
			return
		}
		if err != nil {
			err = redactError(err, rawURL)
			l.set(func(l *peerLink) { l.failures++; l.attempts = attempt; l.lastError = err.Error() })
			r.logger.Warn("relay: peer dial failed", "peer", shown, "attempt", attempt, "retry_in", backoff, "error", err)
		} else {
			l.set(func(l *peerLink) { l.state, l.since, l.sess, l.attempts = PeerConnected, time.Now(), sess, 0 })
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
				reason = redactError(err, rawURL).Error()
			}
			l.set(func(l *peerLink) { l.sess = nil; l.failures++; l.lastError = reason })
			r.logger.Warn("relay: peer session ended, dialing again", "peer", shown, "retry_in", backoff, "reason", reason)
		}
		// Jitter: between half and all of the backoff, so that relays
		// that lost a peer together do not dial it in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		l.set(func(l *peerLink) { l.state, l.since, l.retryAt = PeerBackoff, time.Now(), time.Now().Add(wait) })
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
