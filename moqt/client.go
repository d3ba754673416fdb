package moqt

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gomoq/gomoq/moqt/internal/ietf"
	"github.com/gomoq/gomoq/moqt/internal/wire"
	"github.com/gomoq/gomoq/quic"
	"github.com/gomoq/gomoq/webtransport"
)

// Client dials MoQ sessions. The zero value is usable.
type Client struct {
	// TLSConfig is the TLS configuration; nil means the system roots.
	TLSConfig *tls.Config
	// QUICConfig is the QUIC configuration; nil means quic-go's defaults
	// (datagrams and stream-reset partial delivery are always enabled).
	QUICConfig *quic.Config
	// Config holds the MoQ settings; Config.Versions restricts the offered
	// versions. Nil means the defaults.
	Config *Config
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// Header holds extra HTTP headers for WebTransport requests (for
	// example Origin or Authorization); unused on native QUIC.
	Header http.Header

	initOnce sync.Once
	origin   uint64

	mu       sync.Mutex
	sessions map[*Session]struct{}
	closed   bool
}

func (c *Client) init() {
	c.initOnce.Do(func() {
		c.origin = c.Config.originID(newOrigin())
		c.sessions = make(map[*Session]struct{})
	})
}

// Dial establishes a session with the server at urlStr and publishes mux to
// it (nil means DefaultTrackMux):
//   - "https://host:port/path" dials WebTransport;
//   - "http://host:port/path" first fetches the server's certificate hash
//     from http://host:port/certificate.sha256 (as moq-relay serves it),
//     then dials WebTransport trusting exactly that certificate;
//   - "moqt://host:port/path" dials native QUIC (the path reaches the server
//     in the moq-lite-05 SETUP; earlier versions carry none);
//   - "ws://host:port/path" and "wss://host:port/path" dial QMux over a
//     WebSocket (what browsers without WebTransport use; see
//     Server.ServeWebSocket), with TLSConfig for wss.
//
// The newest version both sides support is negotiated.
func (c *Client) Dial(ctx context.Context, urlStr string, mux *TrackMux) (*Session, error) {
	c.init()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClientClosed
	}
	u, err := url.Parse(urlStr)
	if err != nil {
		return nil, fmt.Errorf("moqt: bad URL: %w", err)
	}
	var (
		conn      quic.Connection
		version   Version
		setup     wire.Setup
		ietfSetup ietf.KVPs
	)
	protos := make([]string, 0, 3)
	for _, v := range c.Config.versions() {
		protos = append(protos, v.String())
	}
	tc := c.tlsConfig()
	switch u.Scheme {
	case "http":
		hash, err := fetchCertificateHash(ctx, u)
		if err != nil {
			return nil, err
		}
		tc = pinnedTLSConfig(tc, hash)
		u.Scheme = "https"
		fallthrough
	case "https":
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "443")
		}
		_, conn, err = webtransport.Dial(ctx, u.String(), c.Header.Clone(), tc, c.quicConfig(), protos)
		if err != nil {
			return nil, fmt.Errorf("moqt: WebTransport dial %s: %w", u.Redacted(), err)
		}
		p := conn.ConnectionState().Protocol
		v, ok := parseVersion(p)
		if !ok || !c.Config.supportsVersion(v) {
			conn.CloseWithError(quic.ApplicationErrorCode(VersionNegotiationError), "no supported version selected")
			return nil, fmt.Errorf("moqt: server selected no supported version (WT-Protocol %q)", p)
		}
		version = v
	case "ws", "wss":
		if conn, version, err = c.dialWebSocket(ctx, u); err != nil {
			return nil, err
		}
	case "moqt":
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "443")
		}
		tc.NextProtos = protos
		qc := c.quicConfig()
		qc.EnableDatagrams = true
		conn, err = quic.DialAddr(ctx, host, tc, qc)
		if err != nil {
			return nil, fmt.Errorf("moqt: QUIC dial %s: %w", host, err)
		}
		v, ok := parseVersion(conn.ConnectionState().Protocol)
		if !ok || !c.Config.supportsVersion(v) {
			conn.CloseWithError(quic.ApplicationErrorCode(VersionNegotiationError), "no supported version")
			return nil, fmt.Errorf("moqt: server negotiated ALPN %q", conn.ConnectionState().Protocol)
		}
		version = v
		setup.Path = strings.TrimPrefix(u.EscapedPath(), "/")
		if u.RawQuery != "" {
			setup.Path += "?" + u.RawQuery
		}
		setup.HasPath = true
		if v.IsIETF() {
			// The draft's PATH and AUTHORITY options carry the URI on
			// native QUIC (types in ascending order).
			ietfSetup = ietf.KVPs{
				{Type: ietf.OptionPath, Bytes: []byte("/" + setup.Path)},
				{Type: ietf.OptionAuthority, Bytes: []byte(u.Host)},
			}
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidScheme, u.Scheme)
	}
	sess := newSession(sessionParams{
		uniCredit: int(c.quicConfig().MaxIncomingUniStreams),
		conn:      conn,
		version:   version.lite(),
		ietf:      version.ietf(),
		ietfSetup: ietfSetup,
		mux:       mux,
		config:    c.Config,
		logger:    c.Logger,
		origin:    c.origin,
		setup:     setup,
	})
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		sess.Terminate(NoError, "client closed")
		return nil, ErrClientClosed
	}
	c.sessions[sess] = struct{}{}
	c.mu.Unlock()
	sess.start()
	context.AfterFunc(sess.ctx, func() {
		c.mu.Lock()
		delete(c.sessions, sess)
		c.mu.Unlock()
	})
	if version.IsIETF() {
		// The server's SETUP completes the IETF handshake. A session the
		// server ended meanwhile is returned as on moq-lite (its Context
		// says why); only a server that stays silent fails the dial.
		wctx, cancel := context.WithTimeout(ctx, c.Config.setupTimeout())
		err := sess.waitPeerSetup(wctx)
		cancel()
		if err != nil && sess.ctx.Err() == nil {
			sess.Terminate(SetupTimeoutError, "no SETUP from the server")
			return nil, err
		}
	}
	return sess, nil
}

func (c *Client) tlsConfig() *tls.Config {
	if c.TLSConfig != nil {
		return c.TLSConfig.Clone()
	}
	return &tls.Config{}
}

// fetchCertificateHash GETs the hex SHA-256 of the server's certificate
// from /certificate.sha256 on the same host and port, over HTTP/TCP.
func fetchCertificateHash(ctx context.Context, u *url.URL) ([]byte, error) {
	cu := url.URL{Scheme: "http", Host: u.Host, Path: "/certificate.sha256"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cu.String(), nil)
	if err != nil {
		return nil, err
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("moqt: fetching certificate hash: %w", err)
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(rsp.Body, 1024))
	if err != nil {
		return nil, fmt.Errorf("moqt: fetching certificate hash: %w", err)
	}
	if rsp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("moqt: fetching certificate hash from %s: %s", cu.String(), rsp.Status)
	}
	hash, err := hex.DecodeString(strings.TrimSpace(string(body)))
	if err != nil || len(hash) != sha256.Size {
		return nil, fmt.Errorf("moqt: %s did not return a hex SHA-256", cu.String())
	}
	return hash, nil
}

// pinnedTLSConfig trusts exactly the certificate whose SHA-256 is hash.
func pinnedTLSConfig(tc *tls.Config, hash []byte) *tls.Config {
	tc.InsecureSkipVerify = true
	tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("moqt: server sent no certificate")
		}
		sum := sha256.Sum256(raw[0])
		if hex.EncodeToString(sum[:]) != hex.EncodeToString(hash) {
			return errors.New("moqt: server certificate does not match /certificate.sha256")
		}
		return nil
	}
	return tc
}

// clientStreamWindow is the per-stream receive window of a client whose
// QUICConfig sets none.
const clientStreamWindow = 512 << 10

// quicConfig returns the QUIC config the client dials with: the user's,
// and, where it leaves them zero, flow-control windows sized so that a
// server is only ever limited by stream flow control, never by the
// connection's. quic-go v0.62.0 can otherwise exceed a stalled receiver's
// connection window by the few bytes of a reset WebTransport stream header
// (a RESET_STREAM_AT sent before its reliable bytes were charged to
// connection flow control), which the receiver must treat as a
// FLOW_CONTROL_ERROR that kills the whole session.
func (c *Client) quicConfig() *quic.Config {
	qc := &quic.Config{}
	if c.QUICConfig != nil {
		qc = c.QUICConfig.Clone()
	}
	if qc.KeepAlivePeriod == 0 {
		qc.KeepAlivePeriod = 5 * time.Second // as moq-relay's clients: a quiet track is not an idle connection
	}
	if qc.InitialStreamReceiveWindow == 0 && qc.MaxStreamReceiveWindow == 0 {
		qc.InitialStreamReceiveWindow = clientStreamWindow
		qc.MaxStreamReceiveWindow = clientStreamWindow
	}
	if qc.InitialConnectionReceiveWindow == 0 && qc.MaxConnectionReceiveWindow == 0 {
		uni, bidi := qc.MaxIncomingUniStreams, qc.MaxIncomingStreams
		if uni <= 0 {
			uni = 100 // quic-go's default
		}
		if bidi <= 0 {
			bidi = 100
		}
		// Streams the server may send on: its own (uni and bidi) and the
		// bidi streams we open (subscriptions, announce requests).
		streams := uint64(uni+bidi) + uint64(defaultMaxSubscriptions+defaultMaxAnnounceStreams)
		sw := qc.MaxStreamReceiveWindow
		if sw == 0 {
			sw = 6 << 20 // quic-go's default
		}
		w := streams * sw
		qc.InitialConnectionReceiveWindow = w
		qc.MaxConnectionReceiveWindow = w
	}
	return qc
}

// Close terminates every session the client dialed, with NoError, and makes
// later Dials fail with ErrClientClosed.
func (c *Client) Close() error {
	for _, sess := range c.takeSessions() {
		sess.Terminate(NoError, "client closed")
		sess.wait()
	}
	return nil
}

// Shutdown lets the groups being written by the client's sessions finish
// (no new group can be opened), then terminates them. If ctx ends first,
// the remaining sessions are closed at once and the error wraps ctx.Err().
func (c *Client) Shutdown(ctx context.Context) error {
	sessions := c.takeSessions()
	var wg sync.WaitGroup
	var forced bool
	var mu sync.Mutex
	for _, sess := range sessions {
		wg.Go(func() {
			sess.goAway("")
			if sess.drain(ctx) != nil {
				mu.Lock()
				forced = true
				mu.Unlock()
			}
			sess.Terminate(NoError, "client closed")
			sess.wait()
		})
	}
	wg.Wait()
	if forced {
		return fmt.Errorf("moqt: shutdown forced, sessions closed: %w", ctx.Err())
	}
	return nil
}

func (c *Client) takeSessions() []*Session {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	out := make([]*Session, 0, len(c.sessions))
	for s := range c.sessions {
		out = append(out, s)
	}
	return out
}
