// Package relay is a MoQ relay engine built on package moqt: every session
// may publish and subscribe; broadcasts a session announces are published,
// under the session's URL path, to every other session; each track has one
// upstream subscription however many subscribers it has, and its latest
// groups are cached so that a new subscriber starts at once.
//
// Use it with a moqt.Server:
//
//	r := relay.New(relay.Options{Logger: logger})
//	server.Handler = r.SetupHandler(server)
//
// Options.Auth decides what each session may publish and subscribe to;
// JWTAuth takes moq-relay's tokens (?jwt= with the claims root, put, get
// and exp).
//
// Relays link into a cluster with Peer: a relay dials another as a client,
// keeps the link up, and relays both ways over it; announcements carry the
// relays they passed through (OriginID), and none is taken back by a relay
// it passed through. A track follows its upstream session: when the
// session of the route it is fetched by dies, it resumes by the next route
// and its subscribers carry on; a broadcast whose publisher's session died
// stays announced for Options.BroadcastLinger, and a publisher that comes
// back within it resumes it.
//
// Or, to accept sessions yourself (every session may do everything):
//
//	server.Handler = moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, req *moqt.SetupRequest) {
//		sess, err := server.Accept(w, req, r.Mux())
//		if err == nil {
//			r.ServeSession(sess)
//		}
//	})
package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
)

// Options configures a Relay. The zero value is usable.
type Options struct {
	// Logger receives the relay's logs; nil discards them.
	Logger *slog.Logger
	// MaxLatency is how far behind the newest group a subscriber may fall
	// before its older groups are dropped, when neither the subscriber nor
	// the publisher says. Default 2s.
	MaxLatency time.Duration
	// CacheGroups bounds the groups cached per track (the latest one is
	// always kept). Default 16.
	CacheGroups int
	// MaxGroupBytes bounds one relayed group; a larger group is aborted.
	// Default 32 MiB.
	MaxGroupBytes int
	// CacheBytes bounds the payload bytes the relay keeps cached across
	// every track for late joiners and fetches; past it, the oldest cached
	// groups of the track that grows are evicted (each track's latest group
	// stays). Eviction never takes a group from a subscriber it was handed
	// to. Default 256 MiB.
	CacheBytes int64
	// Linger is how long an upstream subscription with no subscriber left
	// is kept before it is cancelled. Default 2s.
	Linger time.Duration
	// Auth decides what each session (and each HTTP request) may publish
	// and subscribe to; nil allows everything. See JWTAuth.
	Auth Authorizer
	// BroadcastLinger is how long a broadcast stays announced after the
	// session of its last publisher died (ended with an error, or lost)
	// without ending it: its subscribers keep their subscriptions, and a
	// publisher (or a route through another relay) that announces it
	// meanwhile resumes it. A broadcast its publisher ends, or whose
	// session closes cleanly, ends at once. Default 5s; negative: none.
	BroadcastLinger time.Duration
	// OriginID is the relay's hop ID in a cluster (see OriginID and
	// Peer): non-zero, below 2^53 (higher bits are dropped). Zero means a
	// random one chosen by New.
	OriginID uint64
}

func (o *Options) maxLatency() time.Duration {
	if o.MaxLatency <= 0 {
		return 2 * time.Second
	}
	return o.MaxLatency
}

func (o *Options) cacheGroups() int {
	if o.CacheGroups <= 0 {
		return 16
	}
	return o.CacheGroups
}

func (o *Options) maxGroupBytes() int {
	if o.MaxGroupBytes <= 0 {
		return 32 << 20
	}
	return o.MaxGroupBytes
}

func (o *Options) cacheBytes() int64 {
	if o.CacheBytes <= 0 {
		return 256 << 20
	}
	return o.CacheBytes
}

func (o *Options) broadcastLinger() time.Duration {
	if o.BroadcastLinger == 0 {
		return 5 * time.Second
	}
	return max(o.BroadcastLinger, 0)
}

func (o *Options) linger() time.Duration {
	if o.Linger <= 0 {
		return 2 * time.Second
	}
	return o.Linger
}

// Relay routes broadcasts between sessions.
type Relay struct {
	opts   Options
	logger *slog.Logger
	mux    *moqt.TrackMux
	origin uint64     // hop ID
	routes routeTable // every session's announcements; the best of each path is in mux

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	upstreams    atomic.Int64 // upstream subscriptions open
	subscribers  atomic.Int64 // downstream subscriptions served
	sessions     atomic.Int64
	groups       atomic.Int64 // groups received from publishers
	frames       atomic.Int64 // frames received from publishers
	bytes        atomic.Int64 // payload bytes received from publishers
	dropped      atomic.Int64 // groups dropped for subscribers (ended subscriptions)
	cacheBytes   atomic.Int64 // payload bytes cached
	fetches      atomic.Int64 // HTTP fetches served
	loopsRefused atomic.Int64 // announcements refused: they carried our hop ID
	metrics      metrics      // the rest of what Collector reports

	perSession sync.Map // *moqt.Session → *sessionStats

	peersMu sync.Mutex
	peers   []*peerLink // the links Peer keeps

	meshMu     sync.Mutex
	mesh       *MeshOptions    // set by Mesh
	meshDialed map[string]bool // nodes the mesh dialed
}

// New returns a Relay.
func New(opts Options) *Relay {
	r := &Relay{opts: opts, mux: moqt.NewTrackMux(), logger: opts.Logger, origin: opts.OriginID & (1<<53 - 1)}
	if r.origin == 0 {
		r.origin = newOriginID()
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.routes = routeTable{relay: r, serial: make(chan struct{}, 1), byPath: make(map[string]*pathEntry)}
	return r
}

// Mux returns the relay's TrackMux: pass it to Server.Accept so that
// sessions subscribe to the relay's broadcasts.
func (r *Relay) Mux() *moqt.TrackMux { return r.mux }

// Stats are counters of a relay's activity.
type Stats struct {
	Sessions    int64 // sessions being served
	Broadcasts  int   // broadcasts announced
	Upstreams   int64 // upstream subscriptions open (one per track in use)
	Subscribers int64 // downstream subscriptions being served
	Groups      int64 // groups received from publishers
	Frames      int64 // frames received from publishers
	Bytes       int64 // payload bytes received from publishers
	// GroupsDropped counts the groups dropped for subscribers whose
	// subscription ended (each subscription's own count is its
	// TrackWriter's Stats().Dropped; every drop is also logged at debug).
	GroupsDropped int64
	CacheBytes    int64 // payload bytes cached
	// LoopsRefused counts the announcements refused because their hop
	// list held the relay's OriginID: they had passed through it already.
	LoopsRefused int64
}

// Stats returns the relay's current counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Sessions:      r.sessions.Load(),
		Broadcasts:    len(r.mux.Announcements("/")),
		Upstreams:     r.upstreams.Load(),
		Subscribers:   r.subscribers.Load(),
		Groups:        r.groups.Load(),
		Frames:        r.frames.Load(),
		Bytes:         r.bytes.Load(),
		GroupsDropped: r.dropped.Load(),
		CacheBytes:    r.cacheBytes.Load(),
		LoopsRefused:  r.loopsRefused.Load(),
	}
}

// SetupHandler returns the handler that authorizes each setup request with
// Options.Auth (refusing it with the *AuthError's status and reason),
// accepts it on srv with the relay's mux, showing the session only what it
// may subscribe to, and serves it with ServeSessionWith, ending it when its
// access expires.
func (r *Relay) SetupHandler(srv *moqt.Server) moqt.SetupHandler {
	r.metrics.addServer(srv)
	return moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, req *moqt.SetupRequest) {
		acc, err := r.authorize(req)
		if err != nil {
			status, reason := http.StatusUnauthorized, "unauthorized"
			var ae *AuthError
			if errors.As(err, &ae) {
				status, reason = ae.Status, ae.Reason
			} else {
				status, reason = http.StatusInternalServerError, "authorization failed"
			}
			r.logger.Info("relay: session refused", "remote", req.RemoteAddr, "path", req.Path, "status", status, "reason", err)
			w.Reject(status, reason)
			return
		}
		opts := &moqt.AcceptOptions{Mux: r.mux}
		if acc != nil {
			opts.CanSubscribe = acc.CanSubscribe
			opts.CanDiscover = acc.CanDiscover
		}
		sess, err := srv.AcceptWith(w, req, opts)
		if err != nil {
			r.logger.Debug("relay: session not accepted", "remote", req.RemoteAddr, "error", err)
			return
		}
		if acc != nil && !acc.Expires.IsZero() {
			// The token's exp is the deadline the issuer set for the
			// session: no protocol event marks it, so a timer does.
			t := time.AfterFunc(time.Until(acc.Expires), func() {
				r.logger.Info("relay: session's token expired", "remote", req.RemoteAddr, "path", req.Path)
				r.metrics.auth[reasonSessionExpired].Add(1)
				sess.Terminate(moqt.UnauthorizedSessionError, "token expired")
			})
			context.AfterFunc(sess.Context(), func() { t.Stop() })
		}
		r.metrics.setTransport(sess, transportOf(req))
		r.ServeSessionWith(sess, acc)
	})
}

func (r *Relay) authorize(req *moqt.SetupRequest) (*Access, error) {
	if r.opts.Auth == nil {
		return nil, nil
	}
	acc, err := r.opts.Auth.Authorize(req)
	if err != nil {
		r.metrics.authRefused(err)
	}
	return acc, err
}

// ServeSession relays the broadcasts sess announces: each is published in
// the relay's mux under the session's root, until its announcement or the
// session ends. It returns when the session ends.
func (r *Relay) ServeSession(sess *moqt.Session) { r.ServeSessionWith(sess, nil) }

// ServeSessionWith is ServeSession for a session with access acc (nil:
// everything): a broadcast it announces outside acc.Publish is not relayed,
// and the session is ended with UnauthorizedSessionError and a reason that
// names it (moq-lite cannot refuse one announcement).
func (r *Relay) ServeSessionWith(sess *moqt.Session, acc *Access) {
	r.sessions.Add(1)
	defer r.sessions.Add(-1)
	defer r.metrics.sessionOpened(sess)()
	st := r.sessionStats(sess)
	start := time.Now()
	defer func() {
		<-sess.Context().Done()
		r.logSessionEnd(sess, st, time.Since(start))
	}()
	ar, err := sess.AcceptAnnounce(sess.Context(), "/")
	if err != nil {
		r.logger.Debug("relay: session announces nothing", "remote", sess.RemoteAddr(), "error", err)
		<-sess.Context().Done()
		return
	}
	defer ar.Close()
	root := sess.Root()
	for {
		ann, err := ar.ReceiveAnnouncement(sess.Context())
		if err != nil {
			return
		}
		if !ann.IsActive() {
			continue
		}
		if hops := ann.Hops(); slices.Contains(hops, r.origin) || len(hops) >= maxHops {
			// It passed through this relay already: a loop. Or its hop
			// list is at the limit, which is what ends a loop on
			// moq-lite-03, whose announcements carry a hop count and
			// no IDs.
			r.logger.Debug("relay: refusing an announcement that passed through this relay or too many", "path", clean(string(ann.BroadcastPath())), "hops", hops, "remote", sess.RemoteAddr())
			r.loopsRefused.Add(1)
			continue
		}
		path := moqt.BroadcastPath(string(root) + "/" + string(ann.BroadcastPath()))
		if !acc.CanPublish(path) {
			r.logger.Info("relay: refusing a broadcast the session may not publish", "path", clean(string(path)), "remote", sess.RemoteAddr())
			r.metrics.auth[reasonPublishDenied].Add(1)
			sess.Terminate(moqt.UnauthorizedSessionError, "not allowed to publish "+clean(string(path)))
			return
		}
		a := ann.WithPath(path)
		r.logger.Info("relay: broadcast announced", "path", a.BroadcastPath().String(), "remote", sess.RemoteAddr(), "hops", len(ann.Hops()))
		rt := &route{ann: a, sess: sess, remote: ann.BroadcastPath(), stats: st, hops: ann.Hops()}
		r.wg.Add(1)
		stop := context.AfterFunc(r.ctx, a.End) // Close ends every route
		context.AfterFunc(a.Context(), func() {
			defer r.wg.Done()
			stop()
			r.routes.remove(rt, r.routeDied(a, sess))
			r.logger.Info("relay: broadcast route ended", "path", a.BroadcastPath().String(), "remote", sess.RemoteAddr())
		})
		r.routes.add(rt)
		r.meshLearned(a.BroadcastPath())
	}
}

// routeDied reports whether the announcement a of sess ended because its
// session died rather than on purpose, so that the broadcast lingers
// (Options.BroadcastLinger): ended by its publisher, or with its announce
// stream closed or reset while the session lives, it did not; ended by a
// failure of the connection, it did unless the session closed cleanly (a
// NoError close), which is waited for.
func (r *Relay) routeDied(a *moqt.Announcement, sess *moqt.Session) bool {
	err := a.Err()
	if errors.Is(err, moqt.ErrAnnouncementEnded) || errors.Is(err, io.EOF) {
		return false
	}
	var ae *moqt.AnnounceError
	var qe *quic.StreamError
	if (errors.As(err, &ae) || errors.As(err, &qe)) && sess.Context().Err() == nil {
		return false
	}
	select {
	case <-sess.Context().Done():
	case <-r.ctx.Done():
		return false
	}
	var se *moqt.SessionError
	if errors.As(context.Cause(sess.Context()), &se) && se.Code == moqt.NoError {
		return false
	}
	return true
}

// Close ends every relayed broadcast.
func (r *Relay) Close() error {
	r.cancel()
	r.routes.stopLingering()
	for _, a := range r.mux.Announcements("/") {
		a.End()
	}
	r.wg.Wait()
	return nil
}

// broadcast is what the relay publishes at one path: the handler of its
// tracks, whatever route they come by (see routeTable). Each track has one
// upstream subscription, on the path's best route when it starts; when that
// route's session dies it resumes on the next route (Options.BroadcastLinger).
type broadcast struct {
	relay  *Relay
	path   moqt.BroadcastPath
	entry  *pathEntry
	open   atomic.Bool  // published: new tracks may start
	tracks atomic.Int64 // tracks running

	mu     sync.Mutex
	byName map[string]*track
}

// track returns the shared track name, starting its upstream subscription
// if needed, with first's order, priority and latency bound (nil: the
// publisher's defaults, updated once subscribers come).
func (b *broadcast) track(name string, first *moqt.TrackConfig) (*track, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.byName[name]; t != nil && t.acquire() {
		return t, true
	}
	if !b.open.Load() {
		return nil, false
	}
	t := newTrack(b, name, first)
	if b.byName == nil {
		b.byName = make(map[string]*track)
	}
	b.byName[name] = t
	t.acquire()
	b.tracks.Add(1)
	b.relay.wg.Add(1)
	go func() {
		defer b.relay.wg.Done()
		t.run()
		b.mu.Lock()
		if b.byName[name] == t {
			delete(b.byName, name)
		}
		b.mu.Unlock()
		b.tracks.Add(-1)
		b.relay.routes.trackEnded(b.entry)
	}()
	return t, true
}

// source returns the route a track's upstream subscription should use
// (see routeTable.source).
func (b *broadcast) source(ctx context.Context, skip *route) (*route, error) {
	return b.relay.routes.source(ctx, b.entry, skip)
}

// TrackInfo answers with the upstream track's info (one upstream
// subscription serves this and the subscriptions that follow).
func (b *broadcast) TrackInfo(_ moqt.BroadcastPath, name moqt.TrackName) (moqt.TrackInfo, error) {
	t, ok := b.track(string(name), nil)
	if !ok {
		return moqt.TrackInfo{}, &moqt.SubscribeError{Code: moqt.NotFoundError}
	}
	defer t.release()
	if err := t.wait(t.ctx); err != nil {
		return moqt.TrackInfo{}, err
	}
	return t.info, nil
}

// ServeTrack serves a downstream subscription from the shared track.
func (b *broadcast) ServeTrack(tw *moqt.TrackWriter) {
	c := tw.Config()
	t, ok := b.track(string(tw.TrackName()), &c)
	if !ok {
		tw.CloseWithError(moqt.NotFoundError)
		return
	}
	defer t.release()
	if err := t.wait(tw.Context()); err != nil {
		code := moqt.InternalStreamError
		if se, ok := err.(*moqt.SubscribeError); ok {
			code = se.Code
		}
		tw.CloseWithError(code)
		return
	}
	b.relay.subscribers.Add(1)
	defer b.relay.subscribers.Add(-1)
	b.relay.sessionStats(tw.Session()).serving(tw)
	t.serve(tw)
}

// sessionStats counts a session's traffic through the relay, for the line
// logged when it ends. What it receives is counted with atomic adds as it
// arrives; what it is sent is read from its subscriptions' TrackWriter
// stats.
type sessionStats struct {
	groupsIn  atomic.Int64 // groups of its broadcasts
	bytesIn   atomic.Int64 // payload bytes of those groups
	upstreams atomic.Int64 // upstream subscriptions the relay holds on it

	mu    sync.Mutex
	subs  map[*moqt.TrackWriter]struct{} // subscriptions being served
	ended moqt.TrackWriterStats          // sums of those that ended (Sent, Bytes, Dropped)
}

// sessionStats returns the counters of sess, created on first use (its
// subscriptions may be served before ServeSessionWith runs) and forgotten
// when it ends.
func (r *Relay) sessionStats(sess *moqt.Session) *sessionStats {
	if v, ok := r.perSession.Load(sess); ok {
		return v.(*sessionStats)
	}
	st := &sessionStats{subs: make(map[*moqt.TrackWriter]struct{})}
	if v, loaded := r.perSession.LoadOrStore(sess, st); loaded {
		return v.(*sessionStats)
	}
	context.AfterFunc(sess.Context(), func() { r.perSession.Delete(sess) })
	return st
}

// serving counts tw's groups and bytes as sent to its session, until its
// sender is done (its Context ends once it sent the track's end).
func (st *sessionStats) serving(tw *moqt.TrackWriter) {
	st.mu.Lock()
	st.subs[tw] = struct{}{}
	st.mu.Unlock()
	context.AfterFunc(tw.Context(), func() {
		s := tw.Stats()
		st.mu.Lock()
		delete(st.subs, tw)
		st.ended.Sent += s.Sent
		st.ended.Bytes += s.Bytes
		st.ended.Dropped += s.Dropped
		st.mu.Unlock()
	})
}

// out returns the groups sent in full, the payload bytes sent, and the
// groups dropped, over the session's subscriptions.
func (st *sessionStats) out() (groups, bytes, dropped uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	groups, bytes, dropped = st.ended.Sent, st.ended.Bytes, st.ended.Dropped
	for tw := range st.subs {
		s := tw.Stats()
		groups, bytes, dropped = groups+s.Sent, bytes+s.Bytes, dropped+s.Dropped
	}
	return groups, bytes, dropped
}

// logSessionEnd logs the one line that says a session ended: who, how
// long, what went through, and why it ended.
func (r *Relay) logSessionEnd(sess *moqt.Session, st *sessionStats, d time.Duration) {
	groupsOut, bytesOut, dropped := st.out()
	reason := "closed"
	if err := context.Cause(sess.Context()); err != nil {
		reason = err.Error()
	}
	r.logger.Info("relay: session ended",
		"remote", sess.RemoteAddr(),
		"path", sess.Root().String(),
		"version", sess.Version().String(),
		"duration", d,
		"groups_in", st.groupsIn.Load(),
		"bytes_in", st.bytesIn.Load(),
		"groups_out", groupsOut,
		"bytes_out", bytesOut,
		"groups_dropped_out", dropped,
		"reason", reason)
}
