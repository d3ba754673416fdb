// Command moq-relay is a MoQ relay: browsers (WebTransport) and native
// clients (QUIC, moq-lite 03/04/05) connect to one UDP port, publish
// broadcasts, and subscribe to each other's; every track is fetched once
// from its publisher however many subscribers it has.
//
// With no flags it serves on [::]:4443 with a generated self-signed
// certificate (valid < 14 days, for localhost, 127.0.0.1 and ::1) whose
// SHA-256 is served over HTTP at http://localhost:4443/certificate.sha256,
// which is how browsers and `moq` pin it.
//
//	go run ./cmd/moq-relay
//	go run ./cmd/moq-relay --listen [::]:443 --tls-cert cert.pem --tls-key key.pem
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
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
	fs := flag.NewFlagSet("moq-relay", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: moq-relay [flags]\n\nA MoQ (moq-lite 03/04/05) relay for WebTransport and native QUIC clients.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "[::]:4443", "`address` to serve on: QUIC (WebTransport and native moq-lite) on UDP, HTTP on TCP of the same port")
	certFile := fs.String("tls-cert", "", "PEM certificate `file` (default: generate a self-signed one for localhost, 127.0.0.1 and ::1)")
	keyFile := fs.String("tls-key", "", "PEM private key `file` of --tls-cert")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long SIGINT/SIGTERM waits for sessions to drain before closing them")
	// Limits (0 keeps the library default, shown in brackets).
	maxSessions := fs.Int("max-sessions", 0, "sessions at once; more are refused [10000]")
	maxSubs := fs.Int("max-subscriptions", 0, "subscriptions a session may hold open [1024]")
	maxAnnounce := fs.Int("max-announce-streams", 0, "announcement streams a session may hold open [64]")
	maxMessage := fs.Int("max-message-size", 0, "largest control message, bytes [65536]")
	maxFrame := fs.Int("max-frame-size", 0, "largest frame, bytes [16777216]")
	setupTimeout := fs.Duration("setup-timeout", 0, "time a connection has to set up its session [10s]")
	idleTimeout := fs.Duration("idle-timeout", 0, "QUIC idle timeout [30s]")
	maxStreams := fs.Int64("max-streams", 0, "incoming streams of each kind a session may have open at once [1024]")
	cacheGroups := fs.Int("cache-groups", 0, "groups cached per track [16]")
	cacheBytes := fs.Int64("cache-bytes", 0, "payload bytes cached across all tracks for late joiners and fetches [256 MiB]")
	maxGroupBytes := fs.Int("max-group-bytes", 0, "largest cached group, bytes; larger groups are aborted [33554432]")
	maxLatency := fs.Duration("max-latency", 0, "how far behind a subscriber may fall before its old groups are dropped, when neither side says [2s]")
	authKey := fs.String("auth-key", "", "JWK `file` (moq-token / @moq/token) that verifies the ?jwt= tokens of every connection")
	authKeyDir := fs.String("auth-key-dir", "", "`directory` of JWK files chosen by the token's kid ({kid}.jwk), read when needed")
	var authPublic multiFlag
	fs.Var(&authPublic, "auth-public", "path `prefix` that connections without a token may publish and subscribe to (repeatable; \"\" for everything)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see --help)", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cert, hash, err := loadCertificate(*certFile, *keyFile, logger)
	if err != nil {
		return err
	}

	var auth relay.Authorizer
	switch {
	case *authKey != "" && *authKeyDir != "":
		return errors.New("--auth-key and --auth-key-dir exclude each other")
	case *authKey != "" || *authKeyDir != "" || len(authPublic) > 0:
		auth = &relay.JWTAuth{Key: *authKey, KeyDir: *authKeyDir, Public: authPublic}
		if *authKey != "" {
			if err := relay.CheckKeyFile(*authKey); err != nil {
				return fmt.Errorf("--auth-key: %w", err)
			}
		}
	default:
		logger.Warn("moq-relay: no --auth-key, --auth-key-dir or --auth-public: anyone may publish and subscribe to everything")
	}

	r := relay.New(relay.Options{
		Auth:          auth,
		Logger:        logger,
		CacheGroups:   *cacheGroups,
		CacheBytes:    *cacheBytes,
		MaxGroupBytes: *maxGroupBytes,
		MaxLatency:    *maxLatency,
	})
	defer r.Close()
	server := &moqt.Server{
		Addr:      *listen,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		QUICConfig: &quic.Config{
			MaxIdleTimeout:        *idleTimeout,
			MaxIncomingStreams:    *maxStreams,
			MaxIncomingUniStreams: *maxStreams,
		},
		Config: &moqt.Config{
			// Browsers connect from pages served elsewhere.
			CheckHTTPOrigin:    func(*http.Request) bool { return true },
			SetupTimeout:       *setupTimeout,
			MaxMessageSize:     *maxMessage,
			MaxFrameSize:       *maxFrame,
			MaxSubscriptions:   *maxSubs,
			MaxAnnounceStreams: *maxAnnounce,
			MaxSessions:        *maxSessions,
		},
		Logger: logger,
	}
	handler := r.SetupHandler(server)
	server.Handler = moqt.SetupHandlerFunc(func(w moqt.SetupResponseWriter, req *moqt.SetupRequest) {
		logger.Info("moq-relay: session", "remote", req.RemoteAddr, "path", req.Path)
		handler.ServeMOQ(w, req)
	})

	tcp, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("HTTP listener: %w", err)
	}
	httpServer := &http.Server{Handler: r.HTTPHandler(hash), ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- server.ListenAndServe() }()
	go func() { errc <- httpServer.Serve(tcp) }()

	port := tcp.Addr().(*net.TCPAddr).Port
	logger.Info("moq-relay: listening",
		"url", fmt.Sprintf("https://localhost:%d/", port),
		"http", fmt.Sprintf("http://localhost:%d/certificate.sha256", port),
		"cert_sha256", hash)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		logger.Info("moq-relay: shutting down", "signal", s.String())
	case err := <-errc:
		server.Close()
		httpServer.Close()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	httpServer.Shutdown(ctx)
	if err := server.Shutdown(ctx); err != nil {
		logger.Warn("moq-relay: shutdown", "error", err)
	}
	logger.Info("moq-relay: stopped")
	return nil
}

// loadCertificate loads the certificate files, or generates a self-signed
// certificate when none are given. It returns the certificate's SHA-256.
func loadCertificate(certFile, keyFile string, logger *slog.Logger) (tls.Certificate, string, error) {
	if certFile == "" && keyFile == "" {
		c, err := selfsign.Generate([]string{"localhost", "127.0.0.1", "::1"}, 0)
		if err != nil {
			return tls.Certificate{}, "", err
		}
		logger.Info("moq-relay: generated a self-signed certificate", "hosts", "localhost,127.0.0.1,::1", "expires", c.NotAfter.Format(time.RFC3339))
		return c.TLS, c.SHA256, nil
	}
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, "", errors.New("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("loading certificate: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	return cert, strings.ToLower(hex.EncodeToString(sum[:])), nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
