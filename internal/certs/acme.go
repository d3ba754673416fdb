package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/idna"
)

// DefaultDirectoryURL is the ACME directory used when ACME.DirectoryURL is
// empty: Let's Encrypt's production CA. Its staging CA, for trials that do
// not count against the production rate limits, is
// https://acme-staging-v02.api.letsencrypt.org/directory.
const DefaultDirectoryURL = autocert.DefaultACMEDirectory

// ACME obtains certificates for Hosts from an ACME CA (Let's Encrypt unless
// DirectoryURL says otherwise) with golang.org/x/crypto/acme/autocert, and
// renews them before they expire. Certificates are obtained on the first
// handshake that asks for a host, and renewed in the background.
//
// The CA validates control of each host with one of two challenges:
//   - TLS-ALPN-01, answered on the TCP listener whose configuration comes from
//     TCPConfig (it offers "acme-tls/1"). The CA connects to port 443, so
//     that listener must be reachable there.
//   - HTTP-01, answered by the plain HTTP listener on HTTPListen (or by
//     HTTPHandler mounted elsewhere). The CA connects to port 80.
//
// autocert tries TLS-ALPN-01 first, then HTTP-01 when it is enabled. The
// same GetCertificate serves QUIC (QUICConfig), WebTransport and TCP.
//
// Using ACME accepts the CA's terms of service on the operator's behalf.
//
// Set the fields before the first call of a method and do not change them
// afterwards. The methods are safe for concurrent use. autocert has no way
// to stop its renewal timers: an ACME lives as long as the process.
type ACME struct {
	// Hosts are the DNS names to obtain certificates for (at least one; no
	// IP addresses, no wildcards). Handshakes for other names fail. A
	// handshake without a server name gets the certificate of Hosts[0].
	Hosts []string
	// CacheDir is the directory (autocert.DirCache, created with mode 0700)
	// where the account key and certificates are kept across restarts.
	// Empty means memory only: every start asks the CA for new
	// certificates, which soon runs into its rate limits; set it in
	// production.
	CacheDir string
	// Email is the contact address given to the CA for expiry and problem
	// notices, when the account is created. Empty means none.
	Email string
	// DirectoryURL is the CA's ACME directory (an https URL). Empty means
	// DefaultDirectoryURL (Let's Encrypt production).
	DirectoryURL string
	// HTTPListen is the TCP address (such as ":80") where Run serves HTTP-01
	// challenges; set, it enables HTTP-01 from the start. Empty means Run
	// serves none, and HTTP-01 is off until HTTPHandler or ServeHTTP01 is
	// called.
	HTTPListen string
	// HTTPClient talks to the CA. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// RenewBefore is how long before expiry a certificate is renewed. Zero
	// means autocert's default: a third of the certificate's lifetime, at
	// most 30 days.
	RenewBefore time.Duration
	// Logger receives a line for each certificate obtained and for failures
	// to obtain one (once per distinct error). Nil means no logging.
	Logger *slog.Logger
	// OnObtain, if not nil, is called with the host and the leaf of each
	// certificate obtained or renewed, once it is stored in the cache; new
	// handshakes get it just after OnObtain returns.
	OnObtain func(host string, leaf *x509.Certificate)

	once   sync.Once
	mgr    *autocert.Manager
	err    error
	policy autocert.HostPolicy

	served atomic.Pointer[servedLeaf]

	errMu   sync.Mutex
	lastErr string
}

// servedLeaf is the leaf certificate last served and its hash.
type servedLeaf struct {
	der    []byte
	sha256 string
}

func (a *ACME) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// Validate reports the first problem with the settings, naming the field,
// or nil. The other methods fail with the same error.
func (a *ACME) Validate() error {
	if len(a.Hosts) == 0 {
		return errors.New("certs: ACME needs at least one host name")
	}
	for _, h := range a.Hosts {
		switch {
		case net.ParseIP(h) != nil:
			return fmt.Errorf("certs: ACME host %q: IP addresses are not supported, only DNS names", h)
		case strings.Contains(h, "*"):
			return fmt.Errorf("certs: ACME host %q: wildcard names need DNS-01, which is not supported", h)
		case !strings.Contains(strings.Trim(h, "."), "."):
			return fmt.Errorf("certs: ACME host %q: not a fully qualified DNS name", h)
		}
		if _, err := idna.Lookup.ToASCII(h); err != nil {
			return fmt.Errorf("certs: ACME host %q: %w", h, err)
		}
	}
	if a.DirectoryURL != "" {
		u, err := url.Parse(a.DirectoryURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("certs: ACME DirectoryURL %q: not an https URL", a.DirectoryURL)
		}
	}
	if a.HTTPListen != "" {
		if _, _, err := net.SplitHostPort(a.HTTPListen); err != nil {
			return fmt.Errorf("certs: ACME HTTPListen %q: %w", a.HTTPListen, err)
		}
	}
	if a.RenewBefore < 0 {
		return fmt.Errorf("certs: ACME RenewBefore %v is negative", a.RenewBefore)
	}
	return nil
}

// manager builds the autocert.Manager on first use.
func (a *ACME) manager() (*autocert.Manager, error) {
	a.once.Do(func() {
		if a.err = a.Validate(); a.err != nil {
			return
		}
		var cache autocert.Cache = &memCache{}
		if a.CacheDir != "" {
			cache = autocert.DirCache(a.CacheDir)
		} else {
			a.logger().Warn("certs: no ACME cache directory: certificates are asked for again after every restart, mind the CA's rate limits")
		}
		dir := a.DirectoryURL
		if dir == "" {
			dir = DefaultDirectoryURL
		}
		a.policy = autocert.HostWhitelist(a.Hosts...)
		a.mgr = &autocert.Manager{
			Prompt:      autocert.AcceptTOS,
			Cache:       eventCache{Cache: cache, a: a},
			HostPolicy:  a.policy,
			RenewBefore: a.RenewBefore,
			Email:       a.Email,
			Client: &acme.Client{
				DirectoryURL: dir,
				HTTPClient:   a.HTTPClient,
				UserAgent:    "gomoq",
			},
		}
		if a.HTTPListen != "" {
			// Enable HTTP-01 before the first handshake can start an order.
			a.mgr.HTTPHandler(nil)
		}
	})
	return a.mgr, a.err
}

// GetCertificate returns the certificate for hello's server name, obtaining
// it from the CA on first use (the handshake waits), and answers TLS-ALPN-01
// challenges. Use it through QUICConfig and TCPConfig.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	m, err := a.manager()
	if err != nil {
		return nil, err
	}
	if hello.ServerName == "" {
		h := *hello
		h.ServerName = a.Hosts[0]
		hello = &h
	}
	token := wantsTokenCert(hello)
	cert, err := m.GetCertificate(ecdsaHello(hello))
	if err != nil {
		if !token && a.policy(context.Background(), normalizeHost(hello.ServerName)) == nil {
			a.logError(hello.ServerName, err)
		}
		return nil, err
	}
	if !token && len(cert.Certificate) > 0 {
		if s := a.served.Load(); s == nil || !bytes.Equal(s.der, cert.Certificate[0]) {
			a.served.Store(&servedLeaf{der: cert.Certificate[0], sha256: LeafSHA256(cert)})
		}
	}
	return cert, nil
}

// ecdsaHello works around golang/go#50522: autocert decides whether a
// client takes an ECDSA certificate from the TLS 1.2 ECDSA cipher suites it
// offers, which a client speaking only TLS 1.3 (every QUIC client) does not
// offer, so it would obtain and serve such clients a second, RSA,
// certificate. In TLS 1.3 the signature algorithms alone decide, and the
// curve is part of the algorithm.
func ecdsaHello(hello *tls.ClientHelloInfo) *tls.ClientHelloInfo {
	if !slices.Contains(hello.SupportedVersions, tls.VersionTLS13) ||
		!slices.Contains(hello.SignatureSchemes, tls.ECDSAWithP256AndSHA256) {
		return hello
	}
	h := *hello
	h.SupportedCurves = nil
	h.CipherSuites = append(slices.Clone(hello.CipherSuites), tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
	return &h
}

// Obtain gets the ECDSA certificate of every host now, from the cache or
// from the CA, so that the first clients do not wait for it (a QUIC client
// gives up on a handshake after 5 s by default, an issuance can take longer).
// It blocks until done, at most about 5 minutes per host (autocert's limit),
// and returns the errors joined. The relay calls it in a goroutine at start.
func (a *ACME) Obtain() error {
	if _, err := a.manager(); err != nil {
		return err
	}
	var errs []error
	for _, h := range a.Hosts {
		_, err := a.GetCertificate(&tls.ClientHelloInfo{
			ServerName:        h,
			SupportedVersions: []uint16{tls.VersionTLS13},
			SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			CipherSuites:      []uint16{tls.TLS_AES_128_GCM_SHA256},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("certs: ACME certificate for %s: %w", h, err))
		}
	}
	return errors.Join(errs...)
}

// normalizeHost is the name autocert's host policy is asked about.
func normalizeHost(name string) string {
	if n, err := idna.Lookup.ToASCII(name); err == nil {
		name = n
	}
	return strings.TrimSuffix(name, ".")
}

// logError logs a failure to get a certificate for a configured host, once
// per distinct error.
func (a *ACME) logError(host string, err error) {
	msg := host + ": " + err.Error()
	a.errMu.Lock()
	defer a.errMu.Unlock()
	if msg == a.lastErr {
		return
	}
	a.lastErr = msg
	a.logger().Error("certs: ACME: no certificate", "host", host, "error", err)
}

// SHA256 returns the lowercase hex SHA-256 of the DER of the leaf
// certificate last returned by GetCertificate or Obtain (for any host), or
// "" before the first.
// With a CA-issued certificate it is informational: browsers check such
// certificates against their roots, not by hash.
func (a *ACME) SHA256() string {
	if s := a.served.Load(); s != nil {
		return s.sha256
	}
	return ""
}

// tcpConfig is TCPConfig for a: autocert's TLSConfig (h2, http/1.1 and
// acme-tls/1) with GetCertificate replaced by a.GetCertificate.
func (a *ACME) tcpConfig() *tls.Config {
	c := &tls.Config{}
	if m, err := a.manager(); err == nil {
		c = m.TLSConfig()
	}
	c.MinVersion = tls.VersionTLS12
	c.GetCertificate = a.GetCertificate
	protos := []string{"h2", "http/1.1"}
	for _, p := range append(c.NextProtos, acme.ALPNProto) {
		if !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
	}
	c.NextProtos = protos
	return c
}

// HTTPHandler returns the HTTP-01 challenge responder, for a plain HTTP
// listener on port 80, and enables HTTP-01 from then on. Requests other than
// ACME challenges get 404 Not Found, challenges for hosts not in Hosts 403
// Forbidden. With HTTPListen set, Run serves it and HTTP-01 is enabled from
// the start.
func (a *ACME) HTTPHandler() http.Handler {
	m, err := a.manager()
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		})
	}
	h := m.HTTPHandler(http.NotFoundHandler())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks the Host header against Hosts as it is; a
		// validation request may name the port ("relay.example.com:80",
		// as Pebble's does).
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r = r.Clone(r.Context())
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// Run serves HTTP-01 challenges on HTTPListen until ctx is done, then
// returns nil. With HTTPListen empty it only waits for ctx. It fails when
// the settings are invalid or the address cannot be listened on.
func (a *ACME) Run(ctx context.Context) error {
	if _, err := a.manager(); err != nil {
		return err
	}
	if a.HTTPListen == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", a.HTTPListen)
	if err != nil {
		return fmt.Errorf("certs: ACME HTTP-01 listener: %w", err)
	}
	return a.ServeHTTP01(ctx, ln)
}

// ServeHTTP01 serves HTTP-01 challenges on ln (which it closes) until ctx
// is done, waits for the requests in progress, and returns nil; or it
// returns the listener's error. It enables HTTP-01.
func (a *ACME) ServeHTTP01(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.HTTPHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger().Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("certs: ACME HTTP-01 listener: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// eventCache reports the certificates autocert stores (obtained or renewed).
type eventCache struct {
	autocert.Cache
	a *ACME
}

// Put stores data, and reports it when it is a host's certificate.
func (c eventCache) Put(ctx context.Context, key string, data []byte) error {
	if err := c.Cache.Put(ctx, key, data); err != nil {
		return err
	}
	// autocert's keys: "acme_account+key", "<host>", "<host>+rsa",
	// "<host>+token" (TLS-ALPN-01) and "<token>+http-01".
	host, kind, _ := strings.Cut(key, "+")
	if kind != "" && kind != "rsa" {
		return nil
	}
	leaf := leafOf(data)
	if leaf == nil {
		return nil
	}
	sum := sha256.Sum256(leaf.Raw)
	c.a.logger().Info("certs: ACME certificate obtained",
		"host", host,
		"issuer", leaf.Issuer.String(),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339),
		"sha256", hex.EncodeToString(sum[:]))
	if c.a.OnObtain != nil {
		c.a.OnObtain(host, leaf)
	}
	return nil
}

// leafOf returns the first certificate in autocert's cache entry (a private
// key and a chain, PEM), or nil.
func leafOf(data []byte) *x509.Certificate {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == "CERTIFICATE" {
			leaf, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil
			}
			return leaf
		}
	}
}

// memCache is the autocert.Cache used without a CacheDir.
type memCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Get returns the entry for key, or autocert.ErrCacheMiss.
func (c *memCache) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.m[key]; ok {
		return b, nil
	}
	return nil, autocert.ErrCacheMiss
}

// Put stores data under key.
func (c *memCache) Put(_ context.Context, key string, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string][]byte)
	}
	c.m[key] = bytes.Clone(data)
	return nil
}

// Delete removes key.
func (c *memCache) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}
