// Command moq-relay is a MoQ relay: browsers (WebTransport) and native
// clients (QUIC, moq-lite 03/04/05) connect to one UDP port, publish
// broadcasts, and subscribe to each other's; every track is fetched once
// from its publisher however many subscribers it has.
//
// With no flags it serves on [::]:4443 with a generated self-signed
// certificate (valid < 14 days, for localhost, 127.0.0.1 and ::1) whose
// SHA-256 is served over HTTP at http://localhost:4443/certificate.sha256,
// which is how browsers and `moq` pin it; http://localhost:4443/ is a
// landing page with the live broadcasts and how to connect.
//
//	go run ./cmd/moq-relay
//	go run ./cmd/moq-relay --listen [::]:443 --tls-cert cert.pem --tls-key key.pem
//	go run ./cmd/moq-relay --listen [::]:443 --tls-acme relay.example.com --tls-acme-cache /var/lib/moq-relay/acme
//	go run ./cmd/moq-relay relay.toml
//	go run ./cmd/moq-relay --config relay.toml --log-format json
//
// Every setting is a key of a TOML config file (moq-relay's sections and
// keys: [log] level, [server] listen, [server.tls] cert, key and generate,
// [web.http] listen, [internal] listen, [auth] key, key_dir and public,
// [cluster] connect, id and token (the peers it dials and keeps linked),
// and ours: [log] format, [server] shutdown_timeout, [server.tls] acme and
// its acme_ keys, [limits]), a flag (--listen, --tls-cert, ...) and an
// environment variable, MOQ_ and the key's path upper-cased with "_"
// (MOQ_SERVER_LISTEN, MOQ_AUTH_PUBLIC as a comma-separated list). A flag
// wins over the variable, which wins over the file, which wins over the
// default. relay.example.toml, next to this file, lists every key with its
// meaning and default; --help lists the flags and variables;
// --print-config prints the effective configuration as TOML and exits.
// Unknown keys and bad values are errors that name the key and its line.
//
// Certificates come from server.tls.cert and key, files read again when
// they change (polled every 10 s, and at once on SIGHUP); or from an ACME
// CA for the host names of server.tls.acme (Let's Encrypt by default,
// obtained at start and renewed); or, with neither, a self-signed one is
// generated. One certificate serves QUIC, WebTransport and the TCP
// listener; with files or ACME the TCP listener speaks HTTPS (https://,
// wss://), with a generated certificate plain HTTP (http://, ws://).
//
// The log (text or JSON, [log] format) has one line per session end with
// its duration, groups and bytes in and out, and the close reason.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/gomoq/gomoq/internal/certs"
	"github.com/gomoq/gomoq/internal/selfsign"
	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
	"github.com/gomoq/gomoq/relay"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "moq-relay:", err)
		os.Exit(1)
	}
}

// hooks are run's test seams; nil functions are not called.
type hooks struct {
	// listening is called once every listener is up.
	listening func(listening)
	// reloaded is called after each SIGHUP, with what reloading the
	// certificate returned.
	reloaded func(error)
	// obtained is called when the ACME certificates asked for at start
	// are in, or could not be obtained.
	obtained func(error)
}

// listening describes the relay's listeners, for hooks.listening.
type listening struct {
	QUIC     net.Addr    // UDP: QUIC and WebTransport
	QUICTLS  *tls.Config // what the QUIC listener was created with
	TCP      net.Addr    // TCP: HTTP(S) and WebSocket
	TCPTLS   *tls.Config // nil: plain HTTP
	HTTP01   net.Addr    // ACME HTTP-01, or nil
	Internal net.Addr    // /health, /metrics and /cluster, or nil
}

// run is moq-relay with command-line args and environment getenv (as
// os.LookupEnv): it serves until SIGINT, SIGTERM or the end of ctx, then
// drains. SIGHUP reloads the certificate files.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer, h *hooks) error {
	if h == nil {
		h = &hooks{}
	}
	var cfg Config
	ld, err := loadConfig(&cfg, args, getenv, stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if ld.printConfig {
		return printConfig(stdout, &cfg)
	}
	logger := newLogger(stderr, &cfg)
	if ld.file != "" {
		logger.Info("moq-relay: configuration", "file", ld.file)
	}

	// From here on SIGHUP reloads instead of ending the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)

	cs, err := newCertSource(&cfg, logger)
	if err != nil {
		return err
	}

	var auth relay.Authorizer
	if a := cfg.Auth; a.Key != "" || a.KeyDir != "" || len(a.Public) > 0 {
		auth = &relay.JWTAuth{Key: a.Key, KeyDir: a.KeyDir, Public: a.Public}
		if a.Key != "" {
			if err := relay.CheckKeyFile(a.Key); err != nil {
				return fmt.Errorf("auth.key (%s): %w", ld.from["auth.key"], err)
			}
		}
	} else {
		logger.Warn("moq-relay: no auth.key, auth.key_dir or auth.public (--auth-key, --auth-key-dir, --auth-public): anyone may publish and subscribe to everything")
	}

	lim := &cfg.Limits
	r := relay.New(relay.Options{
		Auth:          auth,
		Logger:        logger,
		CacheGroups:   lim.CacheGroups,
		CacheBytes:    lim.CacheBytes,
		MaxGroupBytes: lim.MaxGroupBytes,
		MaxLatency:    time.Duration(lim.MaxLatency),
		OriginID:      uint64(cfg.Cluster.ID),
		BroadcastLinger: func() time.Duration {
			if cfg.Cluster.Linger <= 0 {
				return -1 // none
			}
			return time.Duration(cfg.Cluster.Linger)
		}(),
	})
	defer r.Close()
	peers, err := peerURLs(&cfg, ld.from)
	if err != nil {
		return err
	}
	type quicUp struct {
		addr      net.Addr
		tls       *tls.Config
		transport *quicgo.Transport
	}
	quicReady := make(chan quicUp, 1)
	server := &moqt.Server{
		Addr: cfg.Server.Listen,
		// moqt.Server adds h3 and the moq-lite ALPNs; never acme-tls/1.
		TLSConfig: certs.QUICConfig(cs.src),
		QUICConfig: &quic.Config{
			MaxIdleTimeout:        time.Duration(lim.IdleTimeout),
			MaxIncomingStreams:    lim.MaxStreams,
			MaxIncomingUniStreams: lim.MaxStreams,
		},
		Config: &moqt.Config{
			// Browsers connect from pages served elsewhere.
			CheckHTTPOrigin:    func(*http.Request) bool { return true },
			SetupTimeout:       time.Duration(lim.SetupTimeout),
			MaxMessageSize:     lim.MaxMessageSize,
			MaxFrameSize:       lim.MaxFrameSize,
			MaxSubscriptions:   lim.MaxSubscriptions,
			MaxAnnounceStreams: lim.MaxAnnounceStreams,
			MaxSessions:        lim.MaxSessions,
			// Peers leave out of what they announce to us what passed
			// through us already (and we do not take it back).
			OriginID: r.OriginID(),
		},
		// A Transport of run's, closed when it returns: one made by
		// quic.ListenAddr keeps its socket (and goroutines) until its
		// last connection finished closing.
		ListenFunc: func(addr string, tc *tls.Config, qc *quic.Config) (quic.Listener, error) {
			ua, err := net.ResolveUDPAddr("udp", addr)
			if err != nil {
				return nil, err
			}
			udp, err := net.ListenUDP("udp", ua)
			if err != nil {
				return nil, err
			}
			tr := &quicgo.Transport{Conn: udp}
			ln, err := tr.ListenEarly(tc, qc)
			if err != nil {
				udp.Close()
				return nil, err
			}
			quicReady <- quicUp{ln.Addr(), tc, tr}
			return quic.WrapListener(ln), nil
		},
		Logger: logger,
	}
	handler := r.SetupHandler(server)
	server.Handler = moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, req *moqt.SetupRequest) {
		logger.Info("moq-relay: session", "remote", req.RemoteAddr, "path", req.Path)
		handler.ServeMOQ(w, req)
	})

	tcp, err := net.Listen("tcp", cfg.httpListen())
	if err != nil {
		return fmt.Errorf("HTTP listener: %w", err)
	}
	tcp = r.MonitorListener("web", tcp)
	var listeners []net.Listener
	closeListeners := func() {
		tcp.Close()
		for _, l := range listeners {
			l.Close()
		}
	}
	port := tcp.Addr().(*net.TCPAddr).Port
	shared := cfg.Web.HTTP.Listen == "" || cfg.Web.HTTP.Listen == cfg.Server.Listen
	// The QUIC port, for the landing page's URLs, when HTTP listens
	// elsewhere.
	quicPort := 0
	if shared {
		// QUIC on the port TCP got (the one configured, or the one
		// picked for port 0).
		if host, _, err := net.SplitHostPort(cfg.Server.Listen); err == nil {
			server.Addr = net.JoinHostPort(host, strconv.Itoa(port))
		}
	} else if _, p, err := net.SplitHostPort(cfg.Server.Listen); err == nil {
		quicPort, _ = strconv.Atoi(p)
	}
	var tcpTLS *tls.Config
	if !cs.selfSigned {
		// Real certificates: HTTPS and wss:// for browsers (and
		// TLS-ALPN-01 for ACME).
		tcpTLS = certs.TCPConfig(cs.src)
	}
	web := &http.Server{
		// WebSocket upgrades (QMux: Safari, iOS, UDP-blocked networks)
		// at any path; the HTTP endpoints otherwise.
		Handler:           r.WebSocketHandler(server, r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: cs.sha256, SelfSigned: cs.selfSigned, QUICPort: quicPort})),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         tcpTLS,
		ErrorLog:          log.New(httpErrorLog{logger}, "", 0),
	}
	servers := []*http.Server{web}
	var internal net.Listener
	if cfg.Internal.Listen != "" {
		internal, err = net.Listen("tcp", cfg.Internal.Listen)
		if err != nil {
			closeListeners()
			return fmt.Errorf("internal listener: %w", err)
		}
		internal = r.MonitorListener("internal", internal)
		listeners = append(listeners, internal)
		servers = append(servers, &http.Server{Handler: internalMux(r.MetricsHandler(), r.ClusterHandler()), ReadHeaderTimeout: 10 * time.Second})
	}
	var http01 net.Listener
	if cs.acme != nil && cs.acme.HTTPListen != "" {
		http01, err = net.Listen("tcp", cs.acme.HTTPListen)
		if err != nil {
			closeListeners()
			return fmt.Errorf("server.tls.acme_http_listen: %w", err)
		}
		listeners = append(listeners, http01)
	}

	// Goroutines that end with bg: certificate polling, HTTP-01.
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		stopBG()
		wg.Wait()
	}()

	errc := make(chan error, 4+len(servers))
	go func() { errc <- server.ListenAndServe() }()
	var up quicUp
	select {
	case up = <-quicReady:
	case err := <-errc:
		closeListeners()
		return fmt.Errorf("QUIC listener: %w", err)
	}
	defer func() {
		up.transport.Close()
		up.transport.Conn.Close()
	}()
	go func() {
		if tcpTLS != nil {
			errc <- web.ServeTLS(tcp, "", "")
		} else {
			errc <- web.Serve(tcp)
		}
	}()
	if internal != nil {
		go func() { errc <- servers[1].Serve(internal) }()
	}
	if cs.files != nil {
		wg.Go(func() { cs.files.Run(bg) })
	}
	if cs.acme != nil {
		cs.startACME(bg, &wg, http01, port, errc, logger, h)
	}

	// The QUIC port: the HTTP listener's when they share the address (so
	// that port 0 shows the port picked), else the one configured.
	if quicPort == 0 {
		quicPort = port
	}
	httpURL := "https://" + net.JoinHostPort(cs.host, strconv.Itoa(port)) + "/"
	if tcpTLS == nil {
		httpURL = "http://" + net.JoinHostPort(cs.host, strconv.Itoa(port)) + "/certificate.sha256"
	}
	attrs := []any{
		"url", "https://" + net.JoinHostPort(cs.host, strconv.Itoa(quicPort)) + "/",
		"http", httpURL,
		"certificate", cs.kind,
	}
	if s := cs.sha256(); s != "" {
		attrs = append(attrs, "cert_sha256", s)
	}
	if internal != nil {
		attrs = append(attrs, "internal", "http://"+internal.Addr().String()+"/health")
	}
	logger.Info("moq-relay: listening", attrs...)
	for _, u := range peers {
		r.Peer(u, nil)
	}
	if cfg.Cluster.Mesh {
		token, err := clusterToken(&cfg, ld.from)
		if err != nil {
			return err
		}
		r.Mesh(relay.MeshOptions{Node: cfg.Cluster.Node, Token: token})
	}
	if len(peers) > 0 || cfg.Cluster.Mesh {
		logger.Info("moq-relay: cluster", "id", r.OriginID(), "peers", len(peers), "mesh", cfg.Cluster.Mesh)
	}
	if h.listening != nil {
		l := listening{QUIC: up.addr, QUICTLS: up.tls, TCP: tcp.Addr(), TCPTLS: tcpTLS}
		if internal != nil {
			l.Internal = internal.Addr()
		}
		if http01 != nil {
			l.HTTP01 = http01.Addr()
		}
		h.listening(l)
	}

wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				err := cs.reload(logger)
				if h.reloaded != nil {
					h.reloaded(err)
				}
				continue
			}
			logger.Info("moq-relay: shutting down", "signal", s.String())
			break wait
		case <-ctx.Done():
			logger.Info("moq-relay: shutting down", "reason", context.Cause(ctx).Error())
			break wait
		case err := <-errc:
			server.Close()
			for _, s := range servers {
				s.Close()
			}
			closeListeners()
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Server.ShutdownTimeout))
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	if err := server.Shutdown(sctx); err != nil {
		logger.Warn("moq-relay: shutdown", "error", err)
	}
	logger.Info("moq-relay: stopped")
	return nil
}

// peerURLs returns the cluster.connect URLs, with the JWT of
// cluster.token added to those that carry none.
func peerURLs(cfg *Config, from map[string]string) ([]string, error) {
	c := &cfg.Cluster
	if len(c.Connect) == 0 {
		return nil, nil
	}
	token, err := clusterToken(cfg, from)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(c.Connect))
	for _, s := range c.Connect {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("cluster.connect (%s): bad URL", from["cluster.connect"])
		}
		if q := u.Query(); token != "" && !q.Has("jwt") {
			q.Set("jwt", token)
			u.RawQuery = q.Encode()
		}
		out = append(out, u.String())
	}
	return out, nil
}

// clusterToken reads cluster.token ("" when unset).
func clusterToken(cfg *Config, from map[string]string) (string, error) {
	c := &cfg.Cluster
	if c.Token == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.Token)
	if err != nil {
		return "", fmt.Errorf("cluster.token (%s): %w", from["cluster.token"], err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("cluster.token (%s): %s is empty", from["cluster.token"], c.Token)
	}
	return token, nil
}

// newLogger returns the logger of [log] level and format, writing to w.
func newLogger(w io.Writer, cfg *Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.Level(cfg.Log.Level)}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// httpErrorLog turns the HTTP server's error log into log lines: failed
// TLS handshakes (scanners, clients that do not trust the certificate) at
// debug, the rest at warn.
type httpErrorLog struct{ l *slog.Logger }

func (w httpErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	w.l.Log(context.Background(), level, "moq-relay: HTTP server", "error", msg)
	return len(p), nil
}

// internalMux returns the handler of the internal listener ([internal]
// listen): the endpoints for operators, kept off the public HTTP
// listener: /health, the Prometheus exposition at /metrics, and the
// cluster's links and routes as JSON at /cluster. Add them here.
func internalMux(metrics, cluster http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("GET /cluster", cluster)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	return mux
}

// certSource is where the relay's certificates come from: one of files,
// acme, or a certificate generated at start.
type certSource struct {
	src        certs.Source  // serves every listener
	files      *certs.Files  // server.tls.cert and key, or nil
	acme       *certs.ACME   // server.tls.acme, or nil
	sha256     func() string // the SHA-256 of the certificate served now
	selfSigned bool          // generated: plain HTTP on TCP, pinned by hash
	host       string        // for the log's URLs
	kind       string        // for the log: "files", "acme" or "generated"
}

// newCertSource loads server.tls.cert and key, or sets up ACME for
// server.tls.acme, or generates a self-signed certificate for
// server.tls.generate.
func newCertSource(cfg *Config, logger *slog.Logger) (*certSource, error) {
	t := &cfg.Server.TLS
	switch {
	case t.Cert != "":
		f := &certs.Files{CertFile: t.Cert, KeyFile: t.Key, Logger: logger}
		if err := f.Reload(); err != nil {
			return nil, err
		}
		cs := &certSource{src: f, files: f, sha256: f.SHA256, host: "localhost", kind: "files"}
		if leaf := f.Certificate().Leaf; leaf != nil {
			switch {
			case len(leaf.DNSNames) > 0:
				cs.host = strings.TrimPrefix(leaf.DNSNames[0], "*.")
			case len(leaf.IPAddresses) > 0:
				cs.host = leaf.IPAddresses[0].String()
			}
		}
		return cs, nil
	case len(t.ACME) > 0:
		a := &certs.ACME{
			Hosts:        t.ACME,
			CacheDir:     t.ACMECache,
			Email:        t.ACMEEmail,
			DirectoryURL: t.ACMEDirectory,
			HTTPListen:   t.ACMEHTTPListen,
			Logger:       logger,
		}
		if err := a.Validate(); err != nil {
			return nil, err
		}
		return &certSource{src: a, acme: a, sha256: a.SHA256, host: t.ACME[0], kind: "acme"}, nil
	}
	c, err := selfsign.Generate(t.Generate, 0)
	if err != nil {
		return nil, err
	}
	logger.Info("moq-relay: generated a self-signed certificate", "hosts", strings.Join(t.Generate, ","), "expires", c.NotAfter.Format(time.RFC3339))
	return &certSource{
		src:        certs.SourceFunc(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &c.TLS, nil }),
		sha256:     func() string { return c.SHA256 },
		selfSigned: true,
		host:       "localhost",
		kind:       "generated",
	}, nil
}

// reload is SIGHUP: it reads the certificate files again, and logs the
// outcome.
func (cs *certSource) reload(logger *slog.Logger) error {
	switch {
	case cs.files != nil:
		before := cs.files.SHA256()
		if err := cs.files.Reload(); err != nil {
			logger.Warn("moq-relay: SIGHUP: certificate files refused, keeping the previous certificate", "error", err, "sha256", before)
			return err
		}
		if after := cs.files.SHA256(); after != before {
			logger.Info("moq-relay: SIGHUP: serving the new certificate", "sha256", after, "previous_sha256", before)
		} else {
			logger.Info("moq-relay: SIGHUP: certificate files unchanged", "sha256", after)
		}
	case cs.acme != nil:
		logger.Info("moq-relay: SIGHUP: ACME certificates are renewed by the relay itself, nothing to reload")
	default:
		logger.Info("moq-relay: SIGHUP: the certificate is generated, nothing to reload")
	}
	return nil
}

// startACME obtains the ACME certificates in the background and serves
// HTTP-01 challenges on http01 (if not nil) until bg ends; tcpPort is the
// TCP listener's, where TLS-ALPN-01 is answered.
func (cs *certSource) startACME(bg context.Context, wg *sync.WaitGroup, http01 net.Listener, tcpPort int, errc chan<- error, logger *slog.Logger, h *hooks) {
	a := cs.acme
	if http01 != nil {
		logger.Info("moq-relay: ACME: answering HTTP-01 challenges", "listen", http01.Addr().String())
		wg.Go(func() {
			if err := a.ServeHTTP01(bg, http01); err != nil {
				errc <- err
			}
		})
	} else if tcpPort != 443 {
		logger.Warn("moq-relay: ACME: the CA checks TLS-ALPN-01 on port 443, and the TCP listener is on another port: forward 443 to it, or set server.tls.acme_http_listen for HTTP-01",
			"tcp_port", tcpPort)
	}
	logger.Info("moq-relay: ACME: obtaining certificates", "hosts", strings.Join(a.Hosts, ","), "directory", a.DirectoryURL, "cache", a.CacheDir)
	// Not waited for on exit: it may take minutes, and ends by itself.
	go func() {
		err := a.Obtain()
		if err != nil {
			logger.Error("moq-relay: ACME: no certificate yet; handshakes fail until one is obtained (each handshake tries again)", "error", err)
		} else {
			logger.Info("moq-relay: ACME: certificates ready", "hosts", strings.Join(a.Hosts, ","), "sha256", a.SHA256())
		}
		if h.obtained != nil {
			h.obtained(err)
		}
	}()
}
