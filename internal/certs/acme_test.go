package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/crypto/acme"
)

// acmeHost is the name the tests obtain certificates for; the test's DNS
// server resolves it (and every name) to 127.0.0.1 for Pebble's VA.
const acmeHost = "relay.moq.test"

const msgObtained = "certs: ACME certificate obtained"

// listen listens on a loopback TCP port and returns the listener and port.
func listen(t *testing.T) (*countingListener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &countingListener{Listener: ln}, ln.Addr().(*net.TCPAddr).Port
}

// countingListener counts the connections accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// refuse closes every connection ln accepts, until t ends.
func refuse(t *testing.T, ln *countingListener) {
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
}

// obtainedLeaves collects what OnObtain reports.
type obtainedLeaves struct {
	mu     sync.Mutex
	leaves []*x509.Certificate
}

func (o *obtainedLeaves) add(host string, leaf *x509.Certificate) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.leaves = append(o.leaves, leaf)
}

func (o *obtainedLeaves) get() []*x509.Certificate {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.leaves)
}

// checkIssued checks that leaf is an ECDSA certificate for acmeHost only.
func checkIssued(t *testing.T, leaf *x509.Certificate, via string) {
	t.Helper()
	if leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("%s: a %v certificate, want ECDSA", via, leaf.PublicKeyAlgorithm)
	}
	if !slices.Equal(leaf.DNSNames, []string{acmeHost}) {
		t.Errorf("%s: certificate for %v, want [%s]", via, leaf.DNSNames, acmeHost)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestACMETLSALPN01 obtains a certificate from Pebble with the TLS-ALPN-01
// challenge answered by the TCP listener itself, on the first handshake that
// asks for it (a plain crypto/tls client, which waits), and checks it with a
// QUIC client and a TLS client that trust only Pebble's root.
func TestACMETLSALPN01(t *testing.T) {
	leakCheck(t)
	tcpLn, tlsPort := listen(t)
	// HTTP-01 is off (no HTTPListen): port 1 is never asked for.
	p := startPebble(t, 1, tlsPort, 0)
	rec := &logRecorder{}
	var got obtainedLeaves
	cacheDir := t.TempDir()
	a := &ACME{
		Hosts:        []string{acmeHost},
		CacheDir:     cacheDir,
		Email:        "ops@moq.test",
		DirectoryURL: p.DirectoryURL,
		HTTPClient:   p.Client,
		Logger:       slog.New(rec),
		OnObtain:     got.add,
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	srv := startEchoServers(t, tcpLn, TCPConfig(a), QUICConfig(a, "test"))

	tc := dialTLS(t, srv.tcp, acmeHost, p.Roots)
	leaf := tlsLeaf(tc)
	checkIssued(t, leaf, "TLS")
	qc := dialQUIC(t, srv.quic, acmeHost, p.Roots)
	if q := quicLeaf(qc); !q.Equal(leaf) {
		t.Errorf("QUIC got certificate %x (%v), TLS %x: a QUIC (TLS 1.3 only) client must get the same ECDSA certificate",
			q.SerialNumber, q.PublicKeyAlgorithm, leaf.SerialNumber)
	}
	if obtained := got.get(); len(obtained) != 1 || !obtained[0].Equal(leaf) {
		t.Errorf("OnObtain saw %d certificates, want the one served", len(obtained))
	}
	if n := rec.count(slog.LevelInfo, msgObtained); n != 1 {
		t.Errorf("%d certificates obtained logged, want 1", n)
	}
	if got, want := a.SHA256(), sha256Hex(leaf.Raw); got != want {
		t.Errorf("SHA256() = %s, want %s", got, want)
	}
	echoTLS(t, tc)
	echoQUIC(t, qc)

	// The TCP listener offers h2 and http/1.1.
	c, err := tls.Dial("tcp", srv.tcp, &tls.Config{RootCAs: p.Roots, ServerName: acmeHost, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if proto := c.ConnectionState().NegotiatedProtocol; proto != "h2" {
		t.Errorf("TCP listener negotiated %q, want h2", proto)
	}
	c.Close()

	// A handshake without a server name gets Hosts[0]'s certificate.
	c, err = tls.Dial("tcp", srv.tcp, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if !tlsLeaf(c).Equal(leaf) {
		t.Error("a handshake without SNI did not get Hosts[0]'s certificate")
	}
	c.Close()

	// Other names are refused, without an error logged (anyone can ask).
	if c, err := tls.Dial("tcp", srv.tcp, &tls.Config{RootCAs: p.Roots, ServerName: "other.moq.test"}); err == nil {
		c.Close()
		t.Error("a handshake for a host not in Hosts succeeded")
	}
	if n := rec.count(slog.LevelError, "certs: ACME: no certificate"); n != 0 {
		t.Errorf("%d errors logged for a host not configured", n)
	}

	// QUIC never answers TLS-ALPN-01.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if qc, err := quic.DialAddr(ctx, srv.quic, &tls.Config{InsecureSkipVerify: true, ServerName: acmeHost, NextProtos: []string{acme.ALPNProto}}, nil); err == nil {
		qc.CloseWithError(0, "")
		t.Error("a QUIC handshake offering only acme-tls/1 succeeded")
	}

	// The certificate is in CacheDir: another ACME with the same cache
	// serves it without asking the CA.
	b := &ACME{Hosts: []string{acmeHost}, CacheDir: cacheDir, DirectoryURL: p.DirectoryURL,
		HTTPClient: &http.Client{Transport: failingTransport{}}}
	if err := b.Obtain(); err != nil {
		t.Fatalf("from the cache: %v", err)
	}
	if b.SHA256() != a.SHA256() {
		t.Error("the certificate from the cache is not the one obtained")
	}
}

// failingTransport fails every request.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network in this test")
}

// TestACMEHTTP01 obtains a certificate from Pebble with the HTTP-01
// challenge, served by ServeHTTP01, while TLS-ALPN-01 cannot succeed (the
// port Pebble validates it on closes every connection), ahead of any client
// with Obtain; then a QUIC client and a TLS client check it against
// Pebble's root.
func TestACMEHTTP01(t *testing.T) {
	leakCheck(t)
	refuser, tlsPort := listen(t)
	refuse(t, refuser)
	httpLn, httpPort := listen(t)
	p := startPebble(t, httpPort, tlsPort, 0)
	rec := &logRecorder{}
	var got obtainedLeaves
	a := &ACME{
		Hosts: []string{acmeHost},
		// Memory only (with a warning).
		DirectoryURL: p.DirectoryURL,
		// Enables HTTP-01 from the start; the test serves it on its own
		// listener with ServeHTTP01 rather than letting Run listen here.
		HTTPListen: httpLn.Addr().String(),
		HTTPClient: p.Client,
		Logger:     slog.New(rec),
		OnObtain:   got.add,
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.ServeHTTP01(ctx, httpLn) }()
	t.Cleanup(func() {
		cancel()
		if err := wait(t, served, "ServeHTTP01's return"); err != nil {
			t.Errorf("ServeHTTP01 = %v, want nil", err)
		}
	})
	srv := startEchoServers(t, nil, TCPConfig(a), QUICConfig(a, "test"))

	if err := a.Obtain(); err != nil {
		t.Fatal(err)
	}
	if refuser.n.Load() == 0 {
		t.Error("Pebble never tried TLS-ALPN-01")
	}
	if httpLn.n.Load() == 0 {
		t.Error("Pebble never fetched the HTTP-01 token")
	}
	if n := rec.count(slog.LevelWarn, "certs: no ACME cache directory: certificates are asked for again after every restart, mind the CA's rate limits"); n != 1 {
		t.Errorf("%d warnings about the missing cache directory, want 1", n)
	}

	qc := dialQUIC(t, srv.quic, acmeHost, p.Roots)
	leaf := quicLeaf(qc)
	checkIssued(t, leaf, "QUIC")
	if l := tlsLeaf(dialTLS(t, srv.tcp, acmeHost, p.Roots)); !l.Equal(leaf) {
		t.Error("TLS and QUIC got different certificates")
	}
	if obtained := got.get(); len(obtained) != 1 || !obtained[0].Equal(leaf) {
		t.Errorf("OnObtain saw %d certificates, want the one served", len(obtained))
	}

	// Requests that are not challenges get 404; challenges are checked
	// against Hosts whether or not the Host header names a port.
	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{acmeHost, "/", http.StatusNotFound},
		{acmeHost + ":80", "/.well-known/acme-challenge/unknown", http.StatusNotFound},
		{acmeHost, "/.well-known/acme-challenge/unknown", http.StatusNotFound},
		{"other.moq.test:80", "/.well-known/acme-challenge/unknown", http.StatusForbidden},
	} {
		req, err := http.NewRequest(http.MethodGet, "http://"+httpLn.Addr().String()+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("GET %s with Host %s on the HTTP-01 listener: %s, want %d", tc.path, tc.host, res.Status, tc.want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestACMERenewal has Pebble issue 30-second certificates and autocert
// renew them 28 s before expiry (1 to 4 s after issuance): after a renewal,
// new connections get the renewed certificate while the old connection
// keeps working.
func TestACMERenewal(t *testing.T) {
	leakCheck(t)
	tcpLn, tlsPort := listen(t)
	cacheDir := t.TempDir()

	// OnObtain reports each certificate, and holds the third one (the
	// second renewal) until the test ends: while it is held, the first
	// renewal is the certificate served.
	obtained := make(chan *x509.Certificate, 10)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) }) // after Pebble's client fails (LIFO)
	var n atomic.Int32
	p := startPebble(t, 1, tlsPort, 30)
	a := &ACME{
		Hosts:        []string{acmeHost},
		CacheDir:     cacheDir,
		DirectoryURL: p.DirectoryURL,
		HTTPClient:   p.Client,
		RenewBefore:  28 * time.Second,
		OnObtain: func(_ string, leaf *x509.Certificate) {
			obtained <- leaf
			if n.Add(1) == 3 {
				<-hold
			}
		},
	}
	srv := startEchoServers(t, tcpLn, TCPConfig(a), QUICConfig(a, "test"))
	if err := a.Obtain(); err != nil {
		t.Fatal(err)
	}
	first := wait(t, obtained, "certificate")
	qc := dialQUIC(t, srv.quic, acmeHost, p.Roots)
	if !quicLeaf(qc).Equal(first) {
		t.Fatal("QUIC did not get the certificate obtained")
	}
	renewed := wait(t, obtained, "renewal")
	wait(t, obtained, "second renewal")
	if renewed.Equal(first) {
		t.Fatal("the renewal reported the first certificate")
	}
	checkIssued(t, renewed, "renewal")
	if l := quicLeaf(dialQUIC(t, srv.quic, acmeHost, p.Roots)); !l.Equal(renewed) {
		t.Errorf("new QUIC connection got %x, want the renewed %x", l.SerialNumber, renewed.SerialNumber)
	}
	if l := tlsLeaf(dialTLS(t, srv.tcp, acmeHost, p.Roots)); !l.Equal(renewed) {
		t.Errorf("new TLS connection got %x, want the renewed %x", l.SerialNumber, renewed.SerialNumber)
	}
	echoQUIC(t, qc)
}

// TestACMEValidate covers the settings refused.
func TestACMEValidate(t *testing.T) {
	leakCheck(t)
	for _, tc := range []struct {
		a    *ACME
		want string
	}{
		{&ACME{}, "at least one host"},
		{&ACME{Hosts: []string{"192.0.2.1"}}, "IP addresses are not supported"},
		{&ACME{Hosts: []string{"*.example.com"}}, "wildcard"},
		{&ACME{Hosts: []string{"localhost"}}, "not a fully qualified DNS name"},
		{&ACME{Hosts: []string{"relay.example.com", "bad name.example.com"}}, `"bad name.example.com"`},
		{&ACME{Hosts: []string{"relay.example.com"}, DirectoryURL: "http://ca.example.com/dir"}, "not an https URL"},
		{&ACME{Hosts: []string{"relay.example.com"}, HTTPListen: "80"}, "HTTPListen"},
		{&ACME{Hosts: []string{"relay.example.com"}, RenewBefore: -time.Hour}, "RenewBefore"},
	} {
		err := tc.a.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate() = %v, want an error with %q", tc.a, err, tc.want)
			continue
		}
		if _, err2 := tc.a.GetCertificate(&tls.ClientHelloInfo{ServerName: "relay.example.com"}); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%+v: GetCertificate = %v, want %v", tc.a, err2, err)
		}
		if err2 := tc.a.Run(context.Background()); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%+v: Run = %v, want %v", tc.a, err2, err)
		}
	}
	ok := ACME{Hosts: []string{"relay.example.com", "Relay2.Example.com."}, DirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory", HTTPListen: ":80"}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

// TestACMERun checks that Run listens on HTTPListen and returns when its
// context ends, and fails for an address it cannot listen on.
func TestACMERun(t *testing.T) {
	leakCheck(t)
	a := &ACME{Hosts: []string{"relay.example.com"}, HTTPListen: "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	cancel()
	if err := wait(t, done, "Run's return"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}

	busy, _ := listen(t)
	b := &ACME{Hosts: []string{"relay.example.com"}, HTTPListen: busy.Addr().String()}
	if err := b.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP-01 listener") {
		t.Errorf("Run on a busy port = %v", err)
	}

	// Without HTTPListen, Run only waits.
	c := &ACME{Hosts: []string{"relay.example.com"}}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- c.Run(ctx) }()
	cancel()
	if err := wait(t, done, "Run's return"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

// TestTLSConfigs checks the ALPN lists: QUIC never offers acme-tls/1, TCP
// offers it for ACME only.
func TestTLSConfigs(t *testing.T) {
	leakCheck(t)
	files := &Files{}
	a := &ACME{Hosts: []string{"relay.example.com"}}
	for _, tc := range []struct {
		name string
		conf *tls.Config
		want []string
	}{
		{"QUIC, files", QUICConfig(files), nil},
		{"QUIC, ACME", QUICConfig(a, "h3", acme.ALPNProto, "moq-lite-03"), []string{"h3", "moq-lite-03"}},
		{"TCP, files", TCPConfig(files), []string{"h2", "http/1.1"}},
		{"TCP, ACME", TCPConfig(a), []string{"h2", "http/1.1", acme.ALPNProto}},
		{"TCP, func", TCPConfig(SourceFunc(files.GetCertificate)), []string{"h2", "http/1.1"}},
	} {
		if !slices.Equal(tc.conf.NextProtos, tc.want) {
			t.Errorf("%s: NextProtos %q, want %q", tc.name, tc.conf.NextProtos, tc.want)
		}
	}
	token := &tls.ClientHelloInfo{ServerName: "relay.example.com", SupportedProtos: []string{acme.ALPNProto}}
	if _, err := QUICConfig(a).GetCertificate(token); !errors.Is(err, errACMEOverQUIC) {
		t.Errorf("QUIC GetCertificate for a TLS-ALPN-01 hello = %v", err)
	}
}
