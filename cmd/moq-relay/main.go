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
//	go run ./cmd/moq-relay relay.toml
//	go run ./cmd/moq-relay --config relay.toml --log-format json
//
// Every setting is a key of a TOML config file (moq-relay's sections and
// keys: [log] level, [server] listen, [server.tls] cert, key and generate,
// [web.http] listen, [internal] listen, [auth] key, key_dir and public,
// and ours: [log] format, [server] shutdown_timeout, [limits]), a flag
// (--listen, --tls-cert, ...) and an environment variable, MOQ_ and the
// key's path upper-cased with "_" (MOQ_SERVER_LISTEN, MOQ_AUTH_PUBLIC as a
// comma-separated list). A flag wins over the variable, which wins over
// the file, which wins over the default. relay.example.toml, next to this
// file, lists every key with its meaning and default; --help lists the
// flags and variables; --print-config prints the effective configuration
// as TOML and exits. Unknown keys and bad values are errors that name the
// key and its line.
//
// The log (text or JSON, [log] format) has one line per session end with
// its duration, groups and bytes in and out, and the close reason.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomoq/gomoq/internal/selfsign"
	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
	"github.com/gomoq/gomoq/relay"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "moq-relay:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var cfg Config
	ld, err := loadConfig(&cfg, args, os.LookupEnv, os.Stderr)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if ld.printConfig {
		return printConfig(os.Stdout, &cfg)
	}
	logger := newLogger(os.Stderr, &cfg)
	if ld.file != "" {
		logger.Info("moq-relay: configuration", "file", ld.file)
	}

	cert, hash, selfSigned, err := loadCertificate(&cfg, logger)
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
	})
	defer r.Close()
	server := &moqt.Server{
		Addr:      cfg.Server.Listen,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
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
	// The QUIC port, for the landing page's URLs, when HTTP listens
	// elsewhere.
	quicPort := 0
	if cfg.Web.HTTP.Listen != "" && cfg.Web.HTTP.Listen != cfg.Server.Listen {
		if _, p, err := net.SplitHostPort(cfg.Server.Listen); err == nil {
			quicPort, _ = strconv.Atoi(p)
		}
	}
	servers := []*http.Server{{
		// WebSocket upgrades (QMux: Safari, iOS, UDP-blocked networks)
		// at any path; the HTTP endpoints otherwise.
		Handler:           r.WebSocketHandler(server, r.HTTPHandlerWith(relay.HTTPOptions{CertSHA256: hash, SelfSigned: selfSigned, QUICPort: quicPort})),
		ReadHeaderTimeout: 10 * time.Second,
	}}
	listeners := []net.Listener{tcp}
	var internalAddr string
	if cfg.Internal.Listen != "" {
		l, err := net.Listen("tcp", cfg.Internal.Listen)
		if err != nil {
			tcp.Close()
			return fmt.Errorf("internal listener: %w", err)
		}
		internalAddr = l.Addr().String()
		servers = append(servers, &http.Server{Handler: internalMux(), ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, l)
	}

	errc := make(chan error, 1+len(servers))
	go func() { errc <- server.ListenAndServe() }()
	for i, s := range servers {
		go func() { errc <- s.Serve(listeners[i]) }()
	}

	// The QUIC port: the HTTP listener's when they share the address (so
	// that port 0 shows the port picked), else the one configured.
	port := tcp.Addr().(*net.TCPAddr).Port
	if quicPort == 0 {
		quicPort = port
	}
	attrs := []any{
		"url", fmt.Sprintf("https://localhost:%d/", quicPort),
		"http", fmt.Sprintf("http://localhost:%d/certificate.sha256", port),
		"cert_sha256", hash,
	}
	if internalAddr != "" {
		attrs = append(attrs, "internal", "http://"+internalAddr+"/health")
	}
	logger.Info("moq-relay: listening", attrs...)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		logger.Info("moq-relay: shutting down", "signal", s.String())
	case err := <-errc:
		server.Close()
		for _, s := range servers {
			s.Close()
		}
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Server.ShutdownTimeout))
	defer cancel()
	for _, s := range servers {
		s.Shutdown(ctx)
	}
	if err := server.Shutdown(ctx); err != nil {
		logger.Warn("moq-relay: shutdown", "error", err)
	}
	logger.Info("moq-relay: stopped")
	return nil
}

// newLogger returns the logger of [log] level and format, writing to w.
func newLogger(w io.Writer, cfg *Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.Level(cfg.Log.Level)}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// internalMux returns the handler of the internal listener ([internal]
// listen): the endpoints for operators, kept off the public HTTP
// listener. Add them here.
func internalMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	return mux
}

// loadCertificate loads server.tls.cert and key, or generates a
// self-signed certificate for server.tls.generate when they are not set.
// It returns the certificate's SHA-256 and whether it is self-signed.
func loadCertificate(cfg *Config, logger *slog.Logger) (cert tls.Certificate, sha string, selfSigned bool, err error) {
	t := &cfg.Server.TLS
	if t.Cert == "" {
		c, err := selfsign.Generate(t.Generate, 0)
		if err != nil {
			return tls.Certificate{}, "", false, err
		}
		logger.Info("moq-relay: generated a self-signed certificate", "hosts", strings.Join(t.Generate, ","), "expires", c.NotAfter.Format(time.RFC3339))
		return c.TLS, c.SHA256, true, nil
	}
	cert, err = tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return tls.Certificate{}, "", false, fmt.Errorf("loading certificate: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return cert, strings.ToLower(hex.EncodeToString(sum[:])), false, nil
}
