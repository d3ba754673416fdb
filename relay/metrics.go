package relay

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gomoq/gomoq/moqt"
)

// Collector returns the collector of the relay's metrics, to register
// with a prometheus.Registerer (MetricsRegistry does, with the Go runtime
// and process collectors). The relay counts with atomic adds where things
// happen (a frame costs only the adds it makes for Stats; subscriptions,
// sessions and refusals a few more) and Collector reads the counts when
// scraped: nothing is counted through client_golang.
//
// Where moq-relay (moq-dev/moq, rs/moq-relay/src/internal.rs) has a metric
// of the same meaning, it has the same name, type and labels, so that its
// dashboards work: tier is always "" (moq-relay's default tier: one relay,
// no cluster), and role is "subscriber" for what the relay received from
// publishers (ingress) and "publisher" for what it sent to subscribers
// (egress):
//
//	moq_relay_bytes_total{tier,role}                counter  payload bytes: ingress read from publishers; egress written to subscribers
//	moq_relay_frames_total{tier,role}               counter  frames, likewise
//	moq_relay_groups_total{tier,role}               counter  groups: ingress received; egress sent to their end
//	moq_relay_datagrams_total{tier,role}            counter  groups carried as datagrams: always 0 (moq-lite groups go on streams here)
//	moq_relay_fetches_total{tier,role}              counter  HTTP fetches served (publisher); 0 for subscriber (the relay fetches nothing upstream)
//	moq_relay_subscriptions_opened_total{tier,role} counter  subscriptions served to subscribers (publisher), made upstream to publishers (subscriber)
//	moq_relay_subscriptions_closed_total{tier,role} counter  those that ended; opened − closed are open
//	moq_relay_viewers_opened_total{tier,role}       counter  distinct (broadcast, session) pairs with a subscription served; 0 for subscriber, as in moq-relay
//	moq_relay_viewers_closed_total{tier,role}       counter  those whose last subscription ended
//	moq_relay_sessions_opened_total{tier}           counter  sessions served
//	moq_relay_sessions_closed_total{tier}           counter  those that ended
//	moq_relay_accept_failures_total{listener,class} counter  failed Accept calls of a listener given to MonitorListener, by class: connection, exhausted, unknown
//	moq_relay_accept_stalled_seconds{listener}      gauge    how long that listener has been failing to accept for lack of resources; 0 when serving
//
// And the relay's own:
//
//	moq_relay_sessions{transport,version}           gauge    open sessions by transport (quic, webtransport, websocket; unknown for sessions given to ServeSession rather than served by SetupHandler) and version (moq-lite-03, -04, -05)
//	moq_relay_upstream_subscriptions                gauge    open upstream subscriptions (one per relayed track in use)
//	moq_relay_broadcasts                            gauge    announced broadcasts
//	moq_relay_cache_bytes                           gauge    payload bytes cached for late joiners and fetches
//	moq_relay_cache_limit_bytes                     gauge    the cache's budget (Options.CacheBytes)
//	moq_relay_groups_dropped_total{reason}          counter  groups dropped for subscribers: latency (further behind the newest group than the latency bound), buffer (over moqt.Config.MaxTrackBuffer), never_received (sequences the relay never had for that subscriber, reported dropped on moq-lite-05)
//	moq_relay_upstream_groups_lost_total{reason}    counter  groups lost upstream: dropped (reported dropped by the publisher), skipped and late (see moqt.TrackReaderStats), counted when the upstream subscription ends; too_large (aborted by the relay for exceeding Options.MaxGroupBytes)
//	moq_relay_auth_refusals_total{reason}           counter  sessions and HTTP requests refused by Options.Auth, and sessions it ended (publish_denied, session_expired), by a fixed set of reasons
//	moq_relay_peer_up{peer}                         gauge    1 while a cluster link (Peer) has a session; peer is its URL, jwt redacted
//	moq_relay_peer_failures_total{peer}             counter  failed dials and ended sessions of the link
//	moq_relay_peer_rtt_seconds{peer}                gauge    smoothed RTT of the link's connection (QUIC and WebTransport links)
//	moq_relay_peer_groups_total{peer,direction}     counter  groups received from (in) and sent to (out) the peer, over the link's current session (reset when it reconnects)
//	moq_relay_peer_bytes_total{peer,direction}      counter  payload bytes, likewise
//	moq_relay_peer_upstream_subscriptions{peer}     gauge    upstream subscriptions held over the link
//	moq_relay_setup_failures_total{reason}          counter  setups the moqt.Servers given to SetupHandler ended without a session (moqt.ServerStats): timeout, version, malformed, origin, rejected (auth refusals included), session_limit, shutting_down, unanswered, upgrade
//
// The auth reasons are no_token, tokens_disabled, malformed, unknown_key,
// bad_signature, expired, wrong_path, grants (JWTAuth's), unauthorized and
// forbidden (another Authorizer's AuthError, by status), error (the
// authorizer failed), publish_denied and session_expired.
func (r *Relay) Collector() prometheus.Collector { return (*collector)(r) }

// MetricsRegistry returns a new registry with the relay's Collector and the
// Go runtime and process collectors (collectors.NewGoCollector and
// NewProcessCollector). Register more collectors on it as needed.
func (r *Relay) MetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// MetricsHandler returns an http.Handler serving MetricsRegistry in the
// Prometheus exposition formats. It is unauthenticated: serve it on an
// internal listener only.
func (r *Relay) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(r.MetricsRegistry(), promhttp.HandlerOpts{})
}

// MonitorListener returns ln wrapped so that its failed Accept calls are
// counted in moq_relay_accept_failures_total{listener=name} and a run of
// failures for lack of resources (file descriptors, memory) shows in
// moq_relay_accept_stalled_seconds{listener=name}. Use moq-relay's names:
// "web" for the HTTP listener, "internal" for the one serving the metrics.
// Only monitored listeners are reported; a second listener under a name
// already in use is returned unwrapped, and logged.
func (r *Relay) MonitorListener(name string, ln net.Listener) net.Listener {
	m := &r.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.listeners {
		if l.name == name {
			r.logger.Warn("relay: a second listener under a name in use is not monitored", "listener", name)
			return ln
		}
	}
	l := &monitoredListener{Listener: ln, name: name, base: time.Now()}
	m.listeners = append(m.listeners, l)
	return l
}

// metrics are the relay's counters beyond those of Stats.
type metrics struct {
	sessionsOpened, sessionsClosed atomic.Int64
	upOpened, upClosed             atomic.Int64
	subsOpened, subsClosed         atomic.Int64
	viewersOpened, viewersClosed   atomic.Int64
	// groups lost upstream: by the upstream subscriptions that ended, and
	// aborted for their size
	upDropped, upSkipped, upLate, tooLarge atomic.Int64
	auth                                   [len(authReasons)]atomic.Int64

	mu         sync.Mutex // guards the fields below
	transports map[*moqt.Session]string
	kinds      map[sessionKind]int64 // open sessions
	viewers    map[viewer]int        // subscriptions served per (broadcast, session)
	servers    []*moqt.Server
	listeners  []*monitoredListener

	egressMu sync.Mutex                     // guards live and ended
	live     map[*moqt.TrackWriter]struct{} // subscriptions being served
	ended    moqt.TrackWriterStats          // sums of those that ended
}

type sessionKind struct{ transport, version string }

type viewer struct {
	b    *broadcast
	sess *moqt.Session
}

// The transports of moq_relay_sessions.
const (
	transportQUIC         = "quic"
	transportWebTransport = "webtransport"
	transportWebSocket    = "websocket"
	// transportUnknown is for sessions given to ServeSession directly.
	transportUnknown = "unknown"
)

// transportOf tells the transport of a setup request.
func transportOf(req *moqt.SetupRequest) string {
	switch {
	case req.Request == nil:
		return transportQUIC
	case moqt.IsWebSocketUpgrade(req.Request):
		return transportWebSocket
	}
	return transportWebTransport
}

// addServer remembers srv, whose ServerStats are reported.
func (m *metrics) addServer(srv *moqt.Server) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.servers {
		if s == srv {
			return
		}
	}
	m.servers = append(m.servers, srv)
}

// setTransport records the transport of sess, which SetupHandler knows and
// ServeSessionWith does not.
func (m *metrics) setTransport(sess *moqt.Session, transport string) {
	m.mu.Lock()
	if m.transports == nil {
		m.transports = make(map[*moqt.Session]string)
	}
	m.transports[sess] = transport
	m.mu.Unlock()
}

// sessionOpened counts sess as open; the function it returns, as closed.
func (m *metrics) sessionOpened(sess *moqt.Session) (closed func()) {
	m.mu.Lock()
	t, ok := m.transports[sess]
	if !ok {
		t = transportUnknown
	}
	delete(m.transports, sess)
	k := sessionKind{t, sess.Version().String()}
	if m.kinds == nil {
		m.kinds = make(map[sessionKind]int64)
	}
	m.kinds[k]++
	m.mu.Unlock()
	m.sessionsOpened.Add(1)
	return func() {
		m.mu.Lock()
		m.kinds[k]--
		m.mu.Unlock()
		m.sessionsClosed.Add(1)
	}
}

// upstreamClosed counts an upstream subscription's end and the groups it
// lost.
func (m *metrics) upstreamClosed(up *moqt.TrackReader) {
	st := up.Stats()
	m.upDropped.Add(int64(st.Dropped))
	m.upSkipped.Add(int64(st.Skipped))
	m.upLate.Add(int64(st.Late))
	m.upClosed.Add(1)
}

// subscription is a downstream subscription being served, as counted.
type subscription struct {
	m     *metrics
	v     viewer
	ended bool
}

// subscribed counts tw, served from b, as an open subscription (and its
// session as a viewer of b, if it was not). Its frames, bytes and drops
// are counted until its sender is done (its Context ends once it sent the
// track's end).
func (m *metrics) subscribed(b *broadcast, tw *moqt.TrackWriter) *subscription {
	m.subsOpened.Add(1)
	v := viewer{b, tw.Session()}
	m.mu.Lock()
	if m.viewers == nil {
		m.viewers = make(map[viewer]int)
	}
	m.viewers[v]++
	first := m.viewers[v] == 1
	m.mu.Unlock()
	if first {
		m.viewersOpened.Add(1)
	}
	m.egressMu.Lock()
	if m.live == nil {
		m.live = make(map[*moqt.TrackWriter]struct{})
	}
	m.live[tw] = struct{}{}
	m.egressMu.Unlock()
	context.AfterFunc(tw.Context(), func() {
		m.egressMu.Lock()
		defer m.egressMu.Unlock()
		addStats(&m.ended, tw.Stats())
		delete(m.live, tw)
	})
	return &subscription{m: m, v: v}
}

// end counts the subscription as closed; later calls do nothing. Called by
// the one goroutine serving it.
func (s *subscription) end() {
	if s.ended {
		return
	}
	s.ended = true
	m := s.m
	m.subsClosed.Add(1)
	m.mu.Lock()
	m.viewers[s.v]--
	last := m.viewers[s.v] == 0
	if last {
		delete(m.viewers, s.v)
	}
	m.mu.Unlock()
	if last {
		m.viewersClosed.Add(1)
	}
}

func addStats(sum *moqt.TrackWriterStats, s moqt.TrackWriterStats) {
	sum.Groups += s.Groups
	sum.Sent += s.Sent
	sum.Dropped += s.Dropped
	sum.Skipped += s.Skipped
	sum.TooFarBehind += s.TooFarBehind
	sum.OverBudget += s.OverBudget
	sum.NeverReceived += s.NeverReceived
	sum.Frames += s.Frames
	sum.Bytes += s.Bytes
}

// egress sums the stats of every subscription served, ended or not.
func (m *metrics) egress() moqt.TrackWriterStats {
	m.egressMu.Lock()
	defer m.egressMu.Unlock()
	sum := m.ended
	for tw := range m.live {
		addStats(&sum, tw.Stats())
	}
	return sum
}

// authReasons are the label values of moq_relay_auth_refusals_total.
var authReasons = [...]string{
	reasonNoToken:        "no_token",        // no token, and the path is not public
	reasonNoKeys:         "tokens_disabled", // a token, but the relay takes none
	reasonMalformed:      "malformed",       // unreadable token, bad kid, algorithm not the key's
	reasonUnknownKey:     "unknown_key",     // no key of that kid
	reasonBadSignature:   "bad_signature",   // bad signature or claims
	reasonExpired:        "expired",         // the token's exp passed before the session
	reasonWrongPath:      "wrong_path",      // the token's root or grants do not cover the path
	reasonGrants:         "grants",          // the token grants nothing, or more than its key's scope
	reasonUnauthorized:   "unauthorized",    // another Authorizer's 401
	reasonForbidden:      "forbidden",       // another Authorizer's 403
	reasonError:          "error",           // the authorizer failed (e.g. the key file is unreadable)
	reasonPublishDenied:  "publish_denied",  // a session announced a broadcast it may not publish (session ended)
	reasonSessionExpired: "session_expired", // a session's token expired (session ended)
}

// authReason is a reason an AuthError gives, as counted.
type authReason uint8

const (
	reasonUnset authReason = iota // another Authorizer's AuthError: by its Status
	reasonNoToken
	reasonNoKeys
	reasonMalformed
	reasonUnknownKey
	reasonBadSignature
	reasonExpired
	reasonWrongPath
	reasonGrants
	reasonUnauthorized
	reasonForbidden
	reasonError
	reasonPublishDenied
	reasonSessionExpired
)

// authRefused counts a refusal by the authorizer with err.
func (m *metrics) authRefused(err error) {
	reason := reasonError
	var ae *AuthError
	if errors.As(err, &ae) {
		switch {
		case ae.reason != reasonUnset:
			reason = ae.reason
		case ae.Status == http.StatusForbidden:
			reason = reasonForbidden
		default:
			reason = reasonUnauthorized
		}
	}
	m.auth[reason].Add(1)
}

// monitoredListener counts the failed Accept calls of a listener.
type monitoredListener struct {
	net.Listener
	name                          string
	base                          time.Time // on the monotonic clock
	connection, exhausted, others atomic.Int64
	// stalledSince is 1 + the time since base of the first exhausted
	// failure of a run; 0 when serving.
	stalledSince atomic.Int64
}

// Accept implements net.Listener.
func (l *monitoredListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.stalledSince.Store(0)
		return c, nil
	}
	switch acceptFailure(err) {
	case "connection":
		l.connection.Add(1)
	case "exhausted":
		l.exhausted.Add(1)
		l.stalledSince.CompareAndSwap(0, int64(time.Since(l.base))+1)
	case "unknown":
		l.others.Add(1)
	}
	return c, err
}

// acceptFailure classifies an Accept error as moq-relay does: "exhausted"
// when the process or host ran out of a resource (the connection stays
// queued), "connection" when one pending connection failed, "unknown"
// otherwise; "" for a closed listener, which is no failure.
func acceptFailure(err error) string {
	if errors.Is(err, net.ErrClosed) {
		return ""
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "unknown"
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
		return "exhausted"
	case syscall.ECONNABORTED, syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.EPERM, syscall.EPROTO,
		syscall.ENOPROTOOPT, syscall.EOPNOTSUPP, syscall.EHOSTDOWN, syscall.EHOSTUNREACH,
		syscall.ENETDOWN, syscall.ENETUNREACH, syscall.EINTR:
		return "connection"
	}
	return "unknown"
}

// collector is the relay's prometheus.Collector.
type collector Relay

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metrics' descriptions (immutable).
var (
	descBytes          = desc("moq_relay_bytes_total", "Media payload bytes transferred.", "tier", "role")
	descFrames         = desc("moq_relay_frames_total", "Media frames transferred.", "tier", "role")
	descGroups         = desc("moq_relay_groups_total", "Media groups transferred.", "tier", "role")
	descDatagrams      = desc("moq_relay_datagrams_total", "Single-frame groups carried over unreliable QUIC datagrams; a subset of groups.", "tier", "role")
	descFetches        = desc("moq_relay_fetches_total", "One-shot group fetches requested.", "tier", "role")
	descSubsOpened     = desc("moq_relay_subscriptions_opened_total", "Track subscriptions opened.", "tier", "role")
	descSubsClosed     = desc("moq_relay_subscriptions_closed_total", "Track subscriptions closed; subtract from opened for live subscriptions.", "tier", "role")
	descViewersOpened  = desc("moq_relay_viewers_opened_total", "Distinct (broadcast, session) subscriptions opened.", "tier", "role")
	descViewersClosed  = desc("moq_relay_viewers_closed_total", "Distinct (broadcast, session) subscriptions closed; subtract from opened for live viewers.", "tier", "role")
	descSessionsOpened = desc("moq_relay_sessions_opened_total", "Connected sessions opened.", "tier")
	descSessionsClosed = desc("moq_relay_sessions_closed_total", "Connected sessions closed; subtract from opened for live sessions.", "tier")
	descAcceptFailures = desc("moq_relay_accept_failures_total", "Failed accept() calls on a listener, by class.", "listener", "class")
	descAcceptStalled  = desc("moq_relay_accept_stalled_seconds", "How long a listener has been unable to accept a connection; 0 when it is serving.", "listener")
	descSessions       = desc("moq_relay_sessions", "Open sessions by transport and moq-lite version.", "transport", "version")
	descUpstreams      = desc("moq_relay_upstream_subscriptions", "Open upstream subscriptions (one per relayed track in use).")
	descBroadcasts     = desc("moq_relay_broadcasts", "Announced broadcasts.")
	descCacheBytes     = desc("moq_relay_cache_bytes", "Payload bytes cached for late joiners and fetches.")
	descCacheLimit     = desc("moq_relay_cache_limit_bytes", "The cache's budget of payload bytes.")
	descGroupsDropped  = desc("moq_relay_groups_dropped_total", "Groups dropped for subscribers, by reason.", "reason")
	descUpstreamLost   = desc("moq_relay_upstream_groups_lost_total", "Groups lost on upstream subscriptions, by reason (dropped, skipped and late are counted when the subscription ends).", "reason")
	descAuthRefusals   = desc("moq_relay_auth_refusals_total", "Sessions and HTTP requests refused by authorization, and sessions it ended, by reason.", "reason")
	descSetupFailures  = desc("moq_relay_setup_failures_total", "Session setups that ended without a session, by reason.", "reason")
	descPeerUp         = desc("moq_relay_peer_up", "1 while the link to a cluster peer (Relay.Peer) has a session, else 0.", "peer")
	descPeerFailures   = desc("moq_relay_peer_failures_total", "Failed dials and ended sessions of a cluster peer link.", "peer")
	descPeerRTT        = desc("moq_relay_peer_rtt_seconds", "Smoothed round-trip time of a cluster peer link's connection (QUIC and WebTransport links).", "peer")
	descPeerGroups     = desc("moq_relay_peer_groups_total", "Groups received from (in) and sent to (out) a cluster peer over its current session.", "peer", "direction")
	descPeerBytes      = desc("moq_relay_peer_bytes_total", "Payload bytes received from (in) and sent to (out) a cluster peer over its current session.", "peer", "direction")
	descPeerUpstreams  = desc("moq_relay_peer_upstream_subscriptions", "Upstream subscriptions the relay holds over a cluster peer link.", "peer")
	allDescs           = []*prometheus.Desc{descPeerUp, descPeerFailures, descPeerRTT, descPeerGroups, descPeerBytes, descPeerUpstreams, descBytes, descFrames, descGroups, descDatagrams, descFetches, descSubsOpened, descSubsClosed, descViewersOpened, descViewersClosed, descSessionsOpened, descSessionsClosed, descAcceptFailures, descAcceptStalled, descSessions, descUpstreams, descBroadcasts, descCacheBytes, descCacheLimit, descGroupsDropped, descUpstreamLost, descAuthRefusals, descSetupFailures}
)

// moq-relay's roles: what the relay received (from publishers) and sent
// (to subscribers).
const (
	roleIngress = "subscriber"
	roleEgress  = "publisher"
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	r := (*Relay)(c)
	m := &r.metrics
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	// Closed counts are read before opened ones, so that opened ≥ closed.
	subsClosed, upClosed, viewersClosed, sessionsClosed := m.subsClosed.Load(), m.upClosed.Load(), m.viewersClosed.Load(), m.sessionsClosed.Load()
	eg := m.egress()
	pair := func(d *prometheus.Desc, ingress, egress int64) {
		counter(d, ingress, "", roleIngress)
		counter(d, egress, "", roleEgress)
	}
	pair(descBytes, r.bytes.Load(), int64(eg.Bytes))
	pair(descFrames, r.frames.Load(), int64(eg.Frames))
	pair(descGroups, r.groups.Load(), int64(eg.Sent))
	pair(descDatagrams, 0, 0)
	pair(descFetches, 0, r.fetches.Load())
	pair(descSubsOpened, m.upOpened.Load(), m.subsOpened.Load())
	pair(descSubsClosed, upClosed, subsClosed)
	pair(descViewersOpened, 0, m.viewersOpened.Load())
	pair(descViewersClosed, 0, viewersClosed)
	counter(descSessionsOpened, m.sessionsOpened.Load(), "")
	counter(descSessionsClosed, sessionsClosed, "")

	counter(descGroupsDropped, int64(eg.TooFarBehind), "latency")
	counter(descGroupsDropped, int64(eg.OverBudget), "buffer")
	counter(descGroupsDropped, int64(eg.NeverReceived), "never_received")
	counter(descUpstreamLost, m.upDropped.Load(), "dropped")
	counter(descUpstreamLost, m.upSkipped.Load(), "skipped")
	counter(descUpstreamLost, m.upLate.Load(), "late")
	counter(descUpstreamLost, m.tooLarge.Load(), "too_large")
	for i, name := range authReasons {
		if authReason(i) != reasonUnset {
			counter(descAuthRefusals, m.auth[i].Load(), name)
		}
	}

	gauge(descUpstreams, float64(r.upstreams.Load()))
	gauge(descBroadcasts, float64(len(r.mux.Announcements("/"))))
	gauge(descCacheBytes, float64(r.cacheBytes.Load()))
	gauge(descCacheLimit, float64(r.opts.cacheBytes()))

	m.mu.Lock()
	kinds := make(map[sessionKind]int64, len(m.kinds)+9)
	for _, t := range []string{transportQUIC, transportWebTransport, transportWebSocket} {
		for _, v := range moqt.SupportedVersions() {
			kinds[sessionKind{t, v.String()}] = 0
		}
	}
	for k, n := range m.kinds {
		kinds[k] = n
	}
	servers := append([]*moqt.Server(nil), m.servers...)
	listeners := append([]*monitoredListener(nil), m.listeners...)
	m.mu.Unlock()
	for k, n := range kinds {
		gauge(descSessions, float64(n), k.transport, k.version)
	}

	var st moqt.ServerStats
	for _, s := range servers {
		x := s.Stats()
		st.SetupTimeouts += x.SetupTimeouts
		st.VersionMismatches += x.VersionMismatches
		st.MalformedSetups += x.MalformedSetups
		st.OriginRefusals += x.OriginRefusals
		st.Rejected += x.Rejected
		st.SessionLimit += x.SessionLimit
		st.ShuttingDown += x.ShuttingDown
		st.Unanswered += x.Unanswered
		st.UpgradeFailures += x.UpgradeFailures
	}
	for _, f := range []struct {
		reason string
		n      uint64
	}{
		{"timeout", st.SetupTimeouts}, {"version", st.VersionMismatches}, {"malformed", st.MalformedSetups},
		{"origin", st.OriginRefusals}, {"rejected", st.Rejected}, {"session_limit", st.SessionLimit},
		{"shutting_down", st.ShuttingDown}, {"unanswered", st.Unanswered}, {"upgrade", st.UpgradeFailures},
	} {
		counter(descSetupFailures, int64(f.n), f.reason)
	}

	for _, p := range r.Cluster().Peers {
		up := 0.0
		if p.State == PeerConnected {
			up = 1
		}
		gauge(descPeerUp, up, p.URL)
		counter(descPeerFailures, p.Failures, p.URL)
		if p.RTTMillis > 0 {
			gauge(descPeerRTT, p.RTTMillis/1000, p.URL)
		}
		counter(descPeerGroups, p.GroupsIn, p.URL, "in")
		counter(descPeerGroups, int64(p.GroupsOut), p.URL, "out")
		counter(descPeerBytes, p.BytesIn, p.URL, "in")
		counter(descPeerBytes, int64(p.BytesOut), p.URL, "out")
		gauge(descPeerUpstreams, float64(p.Upstreams), p.URL)
	}

	for _, l := range listeners {
		counter(descAcceptFailures, l.connection.Load(), l.name, "connection")
		counter(descAcceptFailures, l.exhausted.Load(), l.name, "exhausted")
		counter(descAcceptFailures, l.others.Load(), l.name, "unknown")
		stalled := 0.0
		if t := l.stalledSince.Load(); t != 0 {
			stalled = (time.Since(l.base) - time.Duration(t-1)).Seconds()
		}
		gauge(descAcceptStalled, stalled, l.name)
	}
}
