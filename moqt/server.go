package moqt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/gomoq/gomoq/moqt/internal/wire"
	"github.com/gomoq/gomoq/quic"
	"github.com/gomoq/gomoq/webtransport"
	quicgo "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	wt "github.com/quic-go/webtransport-go"
)

// ALPNIETFDraft14 is the ALPN of IETF moq-transport draft 14. It may be
// listed in TLSConfig.NextProtos, but sessions are not served on it yet:
// such connections are closed with VersionNegotiationError.
const ALPNIETFDraft14 = "moq-00"

// Server accepts MoQ sessions over native QUIC and WebTransport (HTTP/3) on
// one UDP port. The zero value is usable once TLSConfig has a certificate.
//
// ListenAndServe serves both transports: connections negotiating a moq-lite
// ALPN are native MoQ sessions; connections negotiating "h3" are HTTP/3,
// whose requests go to http.DefaultServeMux, except WebTransport requests
// for a path with no handler registered there, which the Server serves
// itself with ServeWebTransport. So registering only moqt.HandleFunc
// handlers is enough to serve WebTransport clients.
type Server struct {
	// Addr is the UDP address to listen on, ":443" if empty.
	Addr string
	// TLSConfig is the TLS configuration. ListenAndServe keeps its
	// NextProtos and adds "h3" and every moq-lite ALPN. It must hold a
	// certificate unless ListenAndServeTLS is used.
	TLSConfig *tls.Config
	// QUICConfig is the QUIC configuration; nil means quic-go's defaults.
	// Datagrams and stream-reset partial delivery are always enabled
	// (WebTransport needs them), and when zero, MaxIncomingStreams and
	// MaxIncomingUniStreams default to 1024 (browsers open one stream per
	// group and drop groups they have no credit for).
	QUICConfig *quic.Config
	// Config holds the MoQ settings; nil means the defaults.
	Config *Config
	// Handler routes setup requests; nil means DefaultRouter.
	Handler SetupHandler
	// ListenFunc creates the QUIC listener; nil means quic.ListenAddr.
	ListenFunc quic.ListenAddrFunc
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger

	initOnce sync.Once
	wt       *wt.Server
	origin   uint64

	mu        sync.Mutex
	listeners map[quic.Listener]struct{}
	conns     map[quic.Connection]struct{}
	h3conns   map[*quicgo.Conn]bool // HTTP/3 connections: whether one carried a session
	sessions  map[*Session]struct{}
	closing   bool // no new listeners, connections or sessions
	wg        sync.WaitGroup

	stats serverStats
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.origin = s.Config.originID(newOrigin())
		s.listeners = make(map[quic.Listener]struct{})
		s.conns = make(map[quic.Connection]struct{})
		s.sessions = make(map[*Session]struct{})
		s.h3conns = make(map[*quicgo.Conn]bool)
		var protos []string
		for _, v := range s.Config.versions() {
			protos = append(protos, v.String())
		}
		s.wt = &wt.Server{
			H3: &http3.Server{
				Handler: http.HandlerFunc(s.serveHTTP3),
				ConnContext: func(ctx context.Context, c *quicgo.Conn) context.Context {
					return context.WithValue(ctx, h3ConnKey{}, c)
				},
			},
			ApplicationProtocols: protos,
			// ServeWebTransport checks the origin itself, to answer 403.
			CheckOrigin: func(*http.Request) bool { return true },
		}
	})
}

// h3ConnKey keys the QUIC connection in HTTP/3 request contexts.
type h3ConnKey struct{}

// newOrigin returns a random hop ID below 2^53 (what JavaScript peers can
// represent), never zero.
func newOrigin() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])&(1<<53-1) | 1
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) handler() SetupHandler {
	if s.Handler == nil {
		return DefaultRouter
	}
	return s.Handler
}

// serveHTTP3 handles the HTTP/3 requests arriving on the server's own
// listener.
func (s *Server) serveHTTP3(w http.ResponseWriter, r *http.Request) {
	if isWebTransport(r) {
		if _, pattern := http.DefaultServeMux.Handler(r); pattern == "" {
			if err := s.ServeWebTransport(w, r); err != nil {
				s.logger().Debug("moqt: WebTransport request failed", "path", r.URL.Path, "error", err)
			}
			return
		}
	}
	http.DefaultServeMux.ServeHTTP(w, r)
}

func isWebTransport(r *http.Request) bool {
	return r.Method == http.MethodConnect && (r.Proto == "webtransport" || r.Proto == "webtransport-h3")
}

// offeredVersions parses WT-Available-Protocols and keeps the configured
// versions, in the client's order.
func (s *Server) offeredVersions(h http.Header) []Version {
	list, err := httpsfv.UnmarshalList(h.Values("WT-Available-Protocols"))
	if err != nil {
		return nil
	}
	var out []Version
	for _, m := range list {
		it, ok := m.(httpsfv.Item)
		if !ok {
			continue
		}
		str, ok := it.Value.(string)
		if !ok {
			continue
		}
		if v, ok := parseVersion(str); ok && s.Config.supportsVersion(v) {
			out = append(out, v)
		}
	}
	return out
}

// ServeWebTransport serves a WebTransport CONNECT request: it checks the
// origin (Config.CheckHTTPOrigin), the offered moq-lite versions, and routes
// the setup request to the Handler, which accepts it with Accept. A request
// that is refused gets an HTTP error status (403 for a disallowed origin,
// 400 for a non-WebTransport request or no common version, 404 for an
// unknown path with the default router, 503 while shutting down). It
// returns once the handler returns; an accepted session lives on.
func (s *Server) ServeWebTransport(w http.ResponseWriter, r *http.Request) error {
	s.init()
	if s.isClosing() {
		s.stats.shuttingDown.Add(1)
		http.Error(w, "moqt: server shutting down", http.StatusServiceUnavailable)
		return ErrServerClosed
	}
	if !isWebTransport(r) {
		s.stats.malformedSetups.Add(1)
		http.Error(w, "moqt: not a WebTransport request", http.StatusBadRequest)
		return fmt.Errorf("moqt: not a WebTransport request (%s %s)", r.Method, r.Proto)
	}
	if err := s.checkOrigin(w, r); err != nil {
		return err
	}
	offered := s.offeredVersions(r.Header)
	if len(offered) == 0 {
		var names []string
		for _, v := range s.Config.versions() {
			names = append(names, v.String())
		}
		msg := fmt.Sprintf("moqt: no supported protocol in WT-Available-Protocols %q (supported: %s)",
			r.Header.Values("WT-Available-Protocols"), strings.Join(names, ", "))
		s.stats.versionMismatches.Add(1)
		http.Error(w, msg, http.StatusBadRequest)
		return errors.New(msg)
	}
	return s.routeHTTP(&setupResponseWriter{server: s, http: w}, r, offered)
}

// checkOrigin answers 403 to a request whose origin Config.CheckHTTPOrigin
// (nil: same origin) refuses.
func (s *Server) checkOrigin(w http.ResponseWriter, r *http.Request) error {
	check := checkSameOrigin
	if s.Config != nil && s.Config.CheckHTTPOrigin != nil {
		check = s.Config.CheckHTTPOrigin
	}
	if check(r) {
		return nil
	}
	s.stats.originRefusals.Add(1)
	http.Error(w, "moqt: origin not allowed", http.StatusForbidden)
	return fmt.Errorf("moqt: origin %q not allowed", r.Header.Get("Origin"))
}

// routeHTTP routes the setup request of an HTTP request (WebTransport or
// WebSocket) offering versions to the Handler, answering 500 if it
// neither accepts nor rejects it.
func (s *Server) routeHTTP(rw *setupResponseWriter, r *http.Request, versions []Version) error {
	req := &SetupRequest{
		Path:       r.URL.Path,
		URL:        &url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery},
		Versions:   versions,
		RemoteAddr: r.RemoteAddr,
		Request:    r,
		ctx:        r.Context(),
	}
	s.handler().ServeMOQ(rw, req)
	if rw.answer() {
		s.stats.unanswered.Add(1)
		http.Error(rw.http, "moqt: the setup handler neither accepted nor rejected the session", http.StatusInternalServerError)
		return errors.New("moqt: the setup handler neither accepted nor rejected the session")
	}
	return nil
}

// checkSameOrigin allows requests without Origin and those whose Origin
// host matches the Host header (webtransport-go's default).
func checkSameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// Accept establishes the session requested by r, publishing mux to the
// peer (nil means DefaultTrackMux). w and r must be those given to the
// SetupHandler. On WebTransport the newest version the client offered is
// chosen and answered in WT-Protocol.
func (s *Server) Accept(w SetupResponseWriter, r *SetupRequest, mux *TrackMux) (*Session, error) {
	return s.AcceptWith(w, r, &AcceptOptions{Mux: mux})
}

// AcceptOptions are the settings of a session accepted with AcceptWith.
type AcceptOptions struct {
	// Mux is published to the peer; nil means DefaultTrackMux.
	Mux *TrackMux
	// CanSubscribe, if set, reports whether the peer may subscribe to the
	// broadcast at path (a path of Mux). The announcements of the others
	// are not shown to the peer, and its subscriptions and track requests
	// for them are refused with UnauthorizedError.
	CanSubscribe func(path BroadcastPath) bool
	// CanDiscover, if set, reports whether the peer may ask for the
	// announcements under prefix (a path of Mux); a refused request is
	// reset with UnauthorizedError, so the peer learns at once that it
	// will see nothing there.
	CanDiscover func(prefix BroadcastPath) bool
}

// AcceptWith is Accept with more settings; opts may be nil.
func (s *Server) AcceptWith(w SetupResponseWriter, r *SetupRequest, opts *AcceptOptions) (*Session, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	s.init()
	rw, ok := w.(*setupResponseWriter)
	if !ok || rw.server != s {
		return nil, errors.New("moqt: Accept needs the SetupResponseWriter this server gave the handler")
	}
	if s.isClosing() {
		rw.reject(http.StatusServiceUnavailable, "server shutting down", &s.stats.shuttingDown)
		return nil, ErrServerClosed
	}
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	if n >= s.Config.maxSessions() {
		rw.reject(http.StatusServiceUnavailable, "too many sessions", &s.stats.sessionLimit)
		return nil, fmt.Errorf("moqt: session limit (%d) reached", s.Config.maxSessions())
	}
	if !rw.answer() {
		return nil, errors.New("moqt: setup request already answered")
	}
	root := cleanPath(r.Path)
	var (
		conn    quic.Connection
		version Version
	)
	if rw.ws != nil {
		c, v, err := s.acceptWebSocket(rw, r)
		if err != nil {
			return nil, err
		}
		conn, version = c, v
	} else if rw.http != nil {
		version = newestVersion(r.Versions, s.Config.versions())
		// webtransport-go answers the first offered protocol it supports:
		// offer it only the one we chose.
		v, _ := httpsfv.Marshal(httpsfv.List{httpsfv.NewItem(version.String())})
		r.Request.Header.Set("WT-Available-Protocols", v)
		sess, err := s.wt.Upgrade(rw.http, r.Request)
		if err != nil {
			s.stats.upgradeFailures.Add(1)
			return nil, fmt.Errorf("moqt: WebTransport upgrade: %w", err)
		}
		qc, _ := r.Request.Context().Value(h3ConnKey{}).(*quicgo.Conn)
		if qc != nil {
			s.mu.Lock()
			if _, ok := s.h3conns[qc]; ok {
				s.h3conns[qc] = true
			}
			s.mu.Unlock()
		}
		conn = webtransport.WrapConn(sess, qc)
	} else {
		conn, version = rw.conn, rw.ver
	}
	sess := newSession(sessionParams{
		uniCredit:     int(s.quicConfig().MaxIncomingUniStreams),
		conn:          conn,
		version:       version.lite(),
		ietf:          version.ietf(),
		peerCtrl:      r.peerCtrl,
		peerIETFSetup: r.ietfSetup,
		server:        true,
		root:          root,
		mux:           opts.Mux,
		canSub:        opts.CanSubscribe,
		canDisc:       opts.CanDiscover,
		config:        s.Config,
		logger:        s.logger(),
		origin:        s.origin,
		peerSetup:     r.peerSetup,
	})
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.stats.shuttingDown.Add(1)
		sess.Terminate(NoError, "server shutting down")
		return nil, ErrServerClosed
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	sess.start()
	// Forgotten once over, by an AfterFunc rather than a goroutine that
	// waits as long as the session lives.
	context.AfterFunc(sess.ctx, func() {
		defer s.wg.Done()
		sess.wait()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	})
	rw.mu.Lock()
	rw.sess = sess
	rw.mu.Unlock()
	s.logger().Debug("moqt: session accepted", "remote", sess.RemoteAddr(), "path", r.Path, "version", version.String())
	return sess, nil
}

// newestVersion returns the first of prefs (newest first) that was offered.
func newestVersion(offered, prefs []Version) Version {
	for _, v := range prefs {
		if slices.Contains(offered, v) {
			return v
		}
	}
	return offered[0]
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// ListenAndServe listens on Addr (UDP) and serves native QUIC and
// WebTransport sessions. It returns ErrServerClosed after Close or Shutdown.
func (s *Server) ListenAndServe() error {
	tc := s.TLSConfig
	if tc == nil || (len(tc.Certificates) == 0 && tc.GetCertificate == nil && tc.GetConfigForClient == nil) {
		return errors.New("moqt: ListenAndServe needs a TLSConfig with a certificate (or use ListenAndServeTLS)")
	}
	return s.listenAndServe(tc.Clone())
}

// ListenAndServeTLS is ListenAndServe with the certificate and key loaded
// from PEM files.
func (s *Server) ListenAndServeTLS(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("moqt: loading certificate: %w", err)
	}
	var tc *tls.Config
	if s.TLSConfig != nil {
		tc = s.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	tc.Certificates = []tls.Certificate{cert}
	return s.listenAndServe(tc)
}

func (s *Server) listenAndServe(tc *tls.Config) error {
	s.init()
	if s.isClosing() {
		return ErrServerClosed
	}
	tc.NextProtos = s.nextProtos(tc.NextProtos)
	listen := s.ListenFunc
	if listen == nil {
		listen = quic.ListenAddr
	}
	addr := s.Addr
	if addr == "" {
		addr = ":443"
	}
	ln, err := listen(addr, tc, s.quicConfig())
	if err != nil {
		return err
	}
	return s.ServeQUICListener(ln)
}

// nextProtos keeps the user's ALPNs and adds "h3" and the moq-lite ones.
func (s *Server) nextProtos(user []string) []string {
	protos := slices.Clone(user)
	add := func(p string) {
		if !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
	}
	for _, v := range s.Config.versions() {
		add(v.String())
	}
	add(http3.NextProtoH3)
	return protos
}

// NextProtos returns the ALPN list the server listens with, given the
// user's list: it is kept, then every moq-lite ALPN and "h3" are added.
// Use it to configure a listener passed to ServeQUICListener.
func (s *Server) NextProtos(user []string) []string { return s.nextProtos(user) }

// QUICListenConfig returns the QUIC configuration the server listens with
// (see QUICConfig). Use it to configure a listener passed to
// ServeQUICListener.
func (s *Server) QUICListenConfig() *quic.Config { return s.quicConfig() }

func (s *Server) quicConfig() *quic.Config {
	var qc *quic.Config
	if s.QUICConfig != nil {
		qc = s.QUICConfig.Clone()
	} else {
		qc = &quic.Config{}
	}
	qc.EnableDatagrams = true
	qc.EnableStreamResetPartialDelivery = true
	if qc.MaxIncomingStreams == 0 {
		qc.MaxIncomingStreams = 1024
	}
	if qc.MaxIncomingUniStreams == 0 {
		qc.MaxIncomingUniStreams = 1024
	}
	return qc
}

// ServeQUICListener serves every connection ln accepts, until ln fails or
// the server is closed (then it returns ErrServerClosed). The listener's
// TLS config must offer the ALPNs of NextProtos.
func (s *Server) ServeQUICListener(ln quic.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	s.logger().Info("moqt: serving", "addr", ln.Addr().String())
	for {
		conn, err := ln.Accept(context.Background())
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			return err
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			conn.CloseWithError(quic.ApplicationErrorCode(NoError), "server shutting down")
			continue
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			if err := s.ServeQUICConn(conn); err != nil && !errors.Is(err, ErrServerClosed) {
				s.logger().Debug("moqt: connection ended", "remote", conn.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

// ServeQUICConn serves one QUIC connection: HTTP/3 (WebTransport) when it
// negotiated "h3", a native moq-lite session when it negotiated a moq-lite
// ALPN. It returns when the connection is closed.
func (s *Server) ServeQUICConn(conn quic.Connection) error {
	s.init()
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.CloseWithError(quic.ApplicationErrorCode(NoError), "server shutting down")
		return ErrServerClosed
	}
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
	}()

	alpn := conn.ConnectionState().Protocol
	if alpn == http3.NextProtoH3 {
		qc, ok := quic.QUICGoConn(conn)
		if !ok {
			conn.CloseWithError(quic.ApplicationErrorCode(InternalSessionError), "HTTP/3 needs a quic-go connection")
			return errors.New("moqt: HTTP/3 is only served on quic-go connections")
		}
		// A connection that carries no WebTransport session within the
		// setup timeout is dropped.
		s.mu.Lock()
		s.h3conns[qc] = false
		s.mu.Unlock()
		timer := time.AfterFunc(s.Config.setupTimeout(), func() {
			s.mu.Lock()
			used := s.h3conns[qc]
			s.mu.Unlock()
			if !used {
				s.stats.setupTimeouts.Add(1)
				s.logger().Debug("moqt: no WebTransport session within the setup timeout", "remote", conn.RemoteAddr().String())
				conn.CloseWithError(quic.ApplicationErrorCode(SetupTimeoutError), "no WebTransport session within the setup timeout")
			}
		})
		defer func() {
			timer.Stop()
			s.mu.Lock()
			delete(s.h3conns, qc)
			s.mu.Unlock()
		}()
		// webtransport-go's ServeQUICConn waits for the HTTP handlers,
		// which run user code (the SetupHandler): it gets a goroutine of
		// its own, so that Close need not wait for them and may be
		// called from one of them.
		go func() {
			if err := s.wt.ServeQUICConn(qc); err != nil {
				s.logger().Debug("moqt: HTTP/3 connection ended", "remote", conn.RemoteAddr().String(), "error", err)
			}
		}()
		<-conn.Context().Done()
		return nil
	}
	// Early (0-RTT) connections are accepted before the handshake ends; a
	// close sent before then loses its code and reason.
	if hc, ok := conn.(interface{ HandshakeComplete() <-chan struct{} }); ok {
		select {
		case <-hc.HandshakeComplete():
		case <-conn.Context().Done():
			return context.Cause(conn.Context())
		}
	}
	v, ok := parseVersion(alpn)
	if !ok || !s.Config.supportsVersion(v) {
		reason := fmt.Sprintf("unsupported protocol %q", alpn)
		if alpn == ALPNIETFDraft14 {
			reason = "IETF moq-transport draft 14 (moq-00) is not supported; use moq-lite-03, -04 or -05, or moqt-17 to moqt-20"
		}
		s.stats.versionMismatches.Add(1)
		conn.CloseWithError(quic.ApplicationErrorCode(VersionNegotiationError), reason)
		return fmt.Errorf("moqt: %s", reason)
	}
	req := &SetupRequest{
		Path:       "/",
		URL:        &url.URL{Path: "/"},
		Versions:   []Version{v},
		RemoteAddr: conn.RemoteAddr().String(),
		ctx:        conn.Context(),
	}
	if v.IsIETF() {
		if err := s.readClientSetupIETF(conn, v.ietf(), req); err != nil {
			code, count := ProtocolViolationError, &s.stats.malformedSetups
			if errors.Is(err, context.DeadlineExceeded) {
				code, count = SetupTimeoutError, &s.stats.setupTimeouts
			}
			if conn.Context().Err() == nil {
				count.Add(1)
			}
			conn.CloseWithError(quic.ApplicationErrorCode(code), err.Error())
			return err
		}
	} else if v >= Version(wire.Lite05) {
		setup, err := s.readClientSetup(conn, v.lite())
		if err != nil {
			code, count := ProtocolViolationError, &s.stats.malformedSetups
			if errors.Is(err, context.DeadlineExceeded) {
				code, count = SetupTimeoutError, &s.stats.setupTimeouts
			}
			if conn.Context().Err() == nil {
				count.Add(1)
			}
			conn.CloseWithError(quic.ApplicationErrorCode(code), err.Error())
			return err
		}
		req.peerSetup = setup
		req.Role = setup.Role
		if setup.HasPath {
			u, err := url.Parse("/" + strings.TrimPrefix(setup.Path, "/"))
			if err != nil {
				s.stats.malformedSetups.Add(1)
				conn.CloseWithError(quic.ApplicationErrorCode(ProtocolViolationError), "bad SETUP path")
				return fmt.Errorf("moqt: bad SETUP path %q: %w", setup.Path, err)
			}
			req.URL = u
			req.Path = u.Path
		}
	}
	rw := &setupResponseWriter{server: s, conn: conn, ver: v}
	// The handler is user code, run on its own goroutine: Close does not
	// wait for it, and it may call Close or Shutdown itself.
	unanswered := make(chan struct{})
	go func() {
		s.handler().ServeMOQ(rw, req)
		if rw.answer() {
			rw.mu.Lock()
			rw.rejected = true
			rw.mu.Unlock()
			s.stats.unanswered.Add(1)
			conn.CloseWithError(quic.ApplicationErrorCode(InternalSessionError), "the setup handler neither accepted nor rejected the session")
			close(unanswered)
		}
	}()
	select {
	case <-unanswered:
		return errors.New("moqt: the setup handler neither accepted nor rejected the session")
	case <-conn.Context().Done():
		return nil
	}
}

// readClientSetup reads the client's moq-lite-05 SETUP, which must arrive
// on its first unidirectional stream within the setup timeout.
func (s *Server) readClientSetup(conn quic.Connection, v wire.Version) (*wire.Setup, error) {
	ctx, cancel := context.WithTimeout(conn.Context(), s.Config.setupTimeout())
	defer cancel()
	str, err := conn.AcceptUniStream(ctx)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("moqt: no SETUP within %v: %w", s.Config.setupTimeout(), context.DeadlineExceeded)
		}
		return nil, err
	}
	str.SetReadDeadline(time.Now().Add(s.Config.setupTimeout()))
	r := wire.NewReader(str, s.Config.maxMessageSize())
	typ, err := r.ReadVarint()
	if err != nil {
		return nil, fmt.Errorf("moqt: reading SETUP: %w", err)
	}
	if typ != wire.StreamSetup {
		return nil, fmt.Errorf("moqt: first unidirectional stream has type %d, want SETUP", typ)
	}
	var m wire.Setup
	if err := readMessage(r, &m, v); err != nil {
		return nil, fmt.Errorf("moqt: reading SETUP: %w", err)
	}
	return &m, nil
}

// Close closes the listeners and terminates every session at once with
// NoError, then waits for the goroutines the server started. Later calls do
// nothing.
func (s *Server) Close() error {
	s.init()
	s.mu.Lock()
	s.closing = true
	listeners := make([]quic.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		listeners = append(listeners, ln)
	}
	sessions := make([]*Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	conns := make([]quic.Connection, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, ln := range listeners {
		ln.Close()
	}
	for _, sess := range sessions {
		sess.Terminate(NoError, "server closed")
	}
	for _, c := range conns {
		c.CloseWithError(quic.ApplicationErrorCode(NoError), "server closed")
	}
	s.wt.Close()
	s.wg.Wait()
	return nil
}

// Shutdown stops the server gracefully: it closes the listeners, refuses
// new sessions, sends GOAWAY on every session whose version has it
// (moq-lite-04 and later), lets the groups being written finish (no new
// group can be opened), and terminates each session with NoError once it
// has none left and their last bytes had a moment (ShutdownLinger) to reach
// the peer. If ctx ends first, the remaining sessions are closed at
// once (as Close does) and Shutdown returns an error wrapping ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.closing = true
	listeners := make([]quic.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		listeners = append(listeners, ln)
	}
	sessions := make([]*Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, ln := range listeners {
		ln.Close()
	}
	var wg sync.WaitGroup
	for _, sess := range sessions {
		wg.Go(func() {
			sess.goAway("")
			if sess.drain(ctx) == nil {
				sess.Terminate(NoError, "server shutting down")
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.Close()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return fmt.Errorf("moqt: shutdown forced, sessions closed: %w", ctx.Err())
	}
}
