package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
	"go.uber.org/goleak"

	"github.com/gomoq/gomoq/internal/certs"
	"github.com/gomoq/gomoq/moqt"
)

// TestMain fails the tests if a goroutine outlives them: run must leave
// none behind once it returned.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait for an event, so that a broken relay fails
// the test instead of hanging it; events come long before.
const waitLimit = 20 * time.Second

// testCA issues leaf certificates for localhost and 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "moq-relay test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// writeLeaf writes a new leaf with serial to certFile and keyFile (each
// written aside and renamed into place, as certbot does), and returns the
// SHA-256 of its DER.
func (ca *testCA) writeLeaf(t *testing.T, serial int64, certFile, keyFile string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	writeFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is the relay's log, kept for a failing test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// started is a relay run by startRun.
type started struct {
	listening
	reloaded chan error // hooks.reloaded
	obtained chan error // hooks.obtained
	log      *syncBuffer
}

// startRun runs the relay with args (and an empty environment) until the
// test ends, and returns once it listens. The test fails if run fails.
func startRun(t *testing.T, args ...string) *started {
	t.Helper()
	s := &started{reloaded: make(chan error, 8), obtained: make(chan error, 1), log: &syncBuffer{}}
	up := make(chan listening, 1)
	h := &hooks{
		listening: func(l listening) { up <- l },
		reloaded:  func(err error) { s.reloaded <- err },
		obtained:  func(err error) { s.obtained <- err },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--log-level", "debug"}, args...), env(nil).lookup, io.Discard, s.log, h)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("run did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("the relay's log:\n%s", s.log)
		}
	})
	select {
	case s.listening = <-up:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, s.log)
	case <-time.After(waitLimit):
		t.Fatalf("the relay does not listen\n%s", s.log)
	}
	return s
}

// wait returns the next value of c.
func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// peerSerial is a TLS client configuration trusting pool that records the
// serial number of the leaf the server presented.
func peerSerial(pool *x509.CertPool, serial *big.Int) *tls.Config {
	return &tls.Config{
		RootCAs:    pool,
		ServerName: "localhost",
		VerifyConnection: func(cs tls.ConnectionState) error {
			serial.Set(cs.PeerCertificates[0].SerialNumber)
			return nil
		},
	}
}

// quicSerial handshakes with the QUIC listener and returns the serial of
// the certificate it presented.
func quicSerial(t *testing.T, addr net.Addr, pool *x509.CertPool) int64 {
	t.Helper()
	var serial big.Int
	tc := peerSerial(pool, &serial)
	tc.NextProtos = []string{"h3"}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := quicgo.DialAddr(ctx, addr.String(), tc, nil)
	if err != nil {
		t.Fatalf("QUIC handshake: %v", err)
	}
	conn.CloseWithError(0, "")
	return serial.Int64()
}

// tcpSerial handshakes with the TCP listener and returns the serial of
// the certificate it presented.
func tcpSerial(t *testing.T, addr net.Addr, pool *x509.CertPool) int64 {
	t.Helper()
	var serial big.Int
	conn, err := tls.Dial("tcp", addr.String(), peerSerial(pool, &serial))
	if err != nil {
		t.Fatalf("TLS handshake on TCP: %v", err)
	}
	conn.Close()
	return serial.Int64()
}

// get returns the body of GET url (which must be 200 OK) with client c.
func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	rsp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer rsp.Body.Close()
	body, err := io.ReadAll(rsp.Body)
	if err != nil || rsp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %q %v", url, rsp.Status, body, err)
	}
	return string(body)
}

// dialSession opens a native QUIC session at path "/" with mux, trusting
// pool, and returns it with the serial of the certificate it was served.
func dialSession(t *testing.T, addr net.Addr, pool *x509.CertPool, mux *moqt.TrackMux) (*moqt.Session, int64) {
	t.Helper()
	var serial big.Int
	c := &moqt.Client{TLSConfig: peerSerial(pool, &serial)}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	sess, err := c.Dial(ctx, "moqt://"+addr.String()+"/", mux)
	if err != nil {
		t.Fatalf("moqt session: %v", err)
	}
	return sess, serial.Int64()
}

// TestCertificateFilesReload: with server.tls.cert and key, QUIC and the
// TCP listener (HTTPS) serve the files' certificate; after the files are
// replaced and SIGHUP is received, new QUIC, moqt and TLS connections get
// the new certificate, /certificate.sha256 follows, and a session made
// before keeps working; files that do not load are refused and the
// certificate stays.
func TestCertificateFilesReload(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	hash1 := ca.writeLeaf(t, 1, certFile, keyFile)
	r := startRun(t, "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	if r.TCPTLS == nil {
		t.Fatal("with certificate files the TCP listener serves plain HTTP, want HTTPS")
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, ServerName: "localhost"}}}
	defer https.CloseIdleConnections()
	base := "https://" + r.TCP.String()

	if got := quicSerial(t, r.QUIC, ca.pool); got != 1 {
		t.Fatalf("QUIC serves certificate %d, want 1", got)
	}
	if got := tcpSerial(t, r.TCP, ca.pool); got != 1 {
		t.Fatalf("TCP serves certificate %d, want 1", got)
	}
	if got := get(t, https, base+"/certificate.sha256"); got != hash1 {
		t.Fatalf("/certificate.sha256 = %s, want %s", got, hash1)
	}

	// A session from before the reload, publishing a broadcast.
	mux := moqt.NewTrackMux()
	const payload = "published before the reload"
	mux.PublishFunc(context.Background(), "/rotating", func(tw *moqt.TrackWriter) {
		gw, err := tw.OpenGroup(context.Background(), 0)
		if err != nil {
			return
		}
		gw.WriteFrame(context.Background(), moqt.NewFrame([]byte(payload)))
		gw.Close()
		<-tw.Context().Done()
	})
	old, serial := dialSession(t, r.QUIC, ca.pool, mux)
	if serial != 1 {
		t.Fatalf("the first session got certificate %d, want 1", serial)
	}

	hash2 := ca.writeLeaf(t, 2, certFile, keyFile)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, r.reloaded, "reload after SIGHUP"); err != nil {
		t.Fatalf("SIGHUP: %v", err)
	}
	if got := quicSerial(t, r.QUIC, ca.pool); got != 2 {
		t.Errorf("after SIGHUP QUIC serves certificate %d, want 2", got)
	}
	if got := tcpSerial(t, r.TCP, ca.pool); got != 2 {
		t.Errorf("after SIGHUP TCP serves certificate %d, want 2", got)
	}
	https.CloseIdleConnections()
	if got := get(t, https, base+"/certificate.sha256"); got != hash2 {
		t.Errorf("after SIGHUP /certificate.sha256 = %s, want %s", got, hash2)
	}

	// A new session, on the new certificate, reaches the broadcast of the
	// one made before the reload, through the relay.
	sub, serial := dialSession(t, r.QUIC, ca.pool, nil)
	if serial != 2 {
		t.Errorf("a session after SIGHUP got certificate %d, want 2", serial)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	ar, err := sub.AcceptAnnounce(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	for {
		a, err := ar.ReceiveAnnouncement(ctx)
		if err != nil {
			t.Fatalf("waiting for /rotating: %v", err)
		}
		if a.BroadcastPath() == "/rotating" {
			break
		}
	}
	tr, err := sub.Subscribe(ctx, "/rotating", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := tr.AcceptGroup(ctx)
	if err != nil {
		t.Fatalf("no group from the session made before the reload: %v", err)
	}
	if fr, err := gr.ReadFrame(); err != nil || string(fr.Payload) != payload {
		t.Fatalf("frame %v, %v; want %q", fr, err, payload)
	}
	if err := old.Context().Err(); err != nil {
		t.Fatalf("the session made before the reload ended: %v", context.Cause(old.Context()))
	}

	// Files that do not load: refused, the certificate stays.
	writeFile(t, certFile, []byte("not a certificate"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	if err := wait(t, r.reloaded, "reload after SIGHUP"); err == nil {
		t.Error("SIGHUP with a broken certificate file: no error")
	}
	if got := tcpSerial(t, r.TCP, ca.pool); got != 2 {
		t.Errorf("after a bad reload TCP serves certificate %d, want still 2", got)
	}
	if got := quicSerial(t, r.QUIC, ca.pool); got != 2 {
		t.Errorf("after a bad reload QUIC serves certificate %d, want still 2", got)
	}
	for _, want := range []string{"SIGHUP: serving the new certificate", "sha256=" + hash2, "SIGHUP: certificate files refused, keeping the previous certificate"} {
		if !strings.Contains(r.log.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// TestGeneratedCertificate: without cert, key or acme, the relay serves a
// generated certificate on QUIC and plain HTTP on TCP, whose
// /certificate.sha256 is that certificate's hash (as browsers need).
func TestGeneratedCertificate(t *testing.T) {
	r := startRun(t, "--listen", "127.0.0.1:0")
	if r.TCPTLS != nil {
		t.Fatal("with a generated certificate the TCP listener serves TLS, want plain HTTP")
	}
	var leaf []byte
	tc := &tls.Config{
		InsecureSkipVerify: true,
		NextProtos:         []string{"h3"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			leaf = cs.PeerCertificates[0].Raw
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	conn, err := quicgo.DialAddr(ctx, r.QUIC.String(), tc, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.CloseWithError(0, "")
	sum := sha256.Sum256(leaf)
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	if got, want := get(t, c, "http://"+r.TCP.String()+"/certificate.sha256"), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("/certificate.sha256 = %s, want the QUIC certificate's %s", got, want)
	}
	if _, p, _ := net.SplitHostPort(r.TCP.String()); !strings.HasSuffix(r.QUIC.String(), ":"+p) {
		t.Errorf("QUIC on %s and HTTP on %s: with server.listen port 0 they share the port picked", r.QUIC, r.TCP)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	if err := wait(t, r.reloaded, "SIGHUP handled"); err != nil {
		t.Errorf("SIGHUP with a generated certificate: %v", err)
	}
}

// TestACMESource: server.tls.acme and its keys make an ACME source with
// those settings, serving QUIC and TCP; its QUIC listener does not offer
// acme-tls/1 (TLS-ALPN-01 is for the TCP listener, which offers it and
// speaks HTTPS); HTTP-01 is answered on acme_http_listen; a CA that cannot
// be reached is logged.
func TestACMESource(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "acme")
	// A directory on a port where nothing listens: obtaining fails at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	directory := "https://" + l.Addr().String() + "/directory"
	l.Close()
	args := []string{
		"--listen", "127.0.0.1:0",
		"--tls-acme", "relay.example.com,relay2.example.com",
		"--tls-acme-cache", cache,
		"--tls-acme-email", "ops@example.com",
		"--tls-acme-directory", directory,
		"--tls-acme-http-listen", "127.0.0.1:0",
	}

	var cfg Config
	if _, err := loadConfig(&cfg, args, env(nil).lookup, io.Discard); err != nil {
		t.Fatal(err)
	}
	cs, err := newCertSource(&cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := cs.acme
	switch {
	case a == nil || cs.src != certs.Source(a) || cs.files != nil:
		t.Fatalf("acme makes source %T (acme %v, files %v)", cs.src, a, cs.files)
	case !slices.Equal(a.Hosts, []string{"relay.example.com", "relay2.example.com"}), a.CacheDir != cache,
		a.Email != "ops@example.com", a.DirectoryURL != directory, a.HTTPListen != "127.0.0.1:0":
		t.Errorf("ACME %+v, want the settings", a)
	case cs.selfSigned || cs.host != "relay.example.com":
		t.Errorf("self-signed %v, host %q", cs.selfSigned, cs.host)
	}

	r := startRun(t, args...)
	if err := wait(t, r.obtained, "end of the ACME certificate request"); err == nil {
		t.Error("certificates obtained from a CA that does not exist")
	}
	if !strings.Contains(r.log.String(), "ACME: no certificate yet") {
		t.Error("the failure to obtain a certificate is not logged")
	}
	if slices.Contains(r.QUICTLS.NextProtos, "acme-tls/1") || !slices.Contains(r.QUICTLS.NextProtos, "h3") {
		t.Errorf("QUIC offers %q: want h3 and the moq ALPNs, never acme-tls/1", r.QUICTLS.NextProtos)
	}
	if r.TCPTLS == nil || !slices.Contains(r.TCPTLS.NextProtos, "acme-tls/1") || !slices.Contains(r.TCPTLS.NextProtos, "http/1.1") {
		t.Fatalf("TCP TLS config %v: want HTTPS offering acme-tls/1 for TLS-ALPN-01", r.TCPTLS)
	}
	// A TLS-ALPN-01 validation over QUIC is refused.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, err = quicgo.DialAddr(ctx, r.QUIC.String(), &tls.Config{ServerName: "relay.example.com", NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true}, nil)
	if err == nil {
		t.Error("a QUIC handshake offering only acme-tls/1 succeeded")
	}

	// HTTP-01: challenges for other hosts are forbidden, unknown tokens
	// not found: the ACME responder answers there.
	if r.HTTP01 == nil {
		t.Fatal("no HTTP-01 listener")
	}
	c := &http.Client{}
	defer c.CloseIdleConnections()
	for host, want := range map[string]int{"relay.example.com": http.StatusNotFound, "other.example.com": http.StatusForbidden} {
		req, _ := http.NewRequest("GET", "http://"+r.HTTP01.String()+"/.well-known/acme-challenge/nope", nil)
		req.Host = host
		rsp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rsp.Body.Close()
		if rsp.StatusCode != want {
			t.Errorf("HTTP-01 challenge for %s: %s, want %d", host, rsp.Status, want)
		}
	}
}

// TestACMEListenerError: an HTTP-01 address that cannot be listened on
// fails the start, naming the setting.
func TestACMEListenerError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = run(context.Background(), []string{"--listen", "127.0.0.1:0", "--tls-acme", "relay.example.com", "--tls-acme-http-listen", l.Addr().String()},
		env(nil).lookup, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "server.tls.acme_http_listen") || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("run with acme_http_listen in use: %v", err)
	}
}
