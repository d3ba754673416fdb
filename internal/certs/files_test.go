package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	msgRefused  = "certs: refused new certificate files, keeping the previous certificate"
	msgLoaded   = "certs: loaded certificate"
	msgNoneLoad = "certs: no certificate loaded"
)

// filesFixture is a Files over two files in a temporary directory.
type filesFixture struct {
	ca                *testCA
	certFile, keyFile string
	log               *logRecorder
	files             *Files

	mu    sync.Mutex
	loads []int64 // serials, in the order OnLoad saw them
}

func newFilesFixture(t *testing.T, poll time.Duration) *filesFixture {
	dir := t.TempDir()
	fx := &filesFixture{
		ca:       newTestCA(t),
		certFile: filepath.Join(dir, "cert.pem"),
		keyFile:  filepath.Join(dir, "key.pem"),
		log:      &logRecorder{},
	}
	fx.files = &Files{
		CertFile:     fx.certFile,
		KeyFile:      fx.keyFile,
		PollInterval: poll,
		Logger:       slog.New(fx.log),
		OnLoad: func(c *tls.Certificate) {
			fx.mu.Lock()
			fx.loads = append(fx.loads, c.Leaf.SerialNumber.Int64())
			fx.mu.Unlock()
		},
	}
	return fx
}

func (fx *filesFixture) loaded() []int64 {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return slices.Clone(fx.loads)
}

// write replaces both files in place.
func (fx *filesFixture) write(t *testing.T, certPEM, keyPEM []byte) {
	t.Helper()
	writeFile(t, fx.certFile, certPEM)
	writeFile(t, fx.keyFile, keyPEM)
}

// checkServed checks that new TLS and QUIC connections get the certificate
// with serial.
func checkServed(t *testing.T, fx *filesFixture, srv echoServers, serial int64) {
	t.Helper()
	if got := tlsLeaf(dialTLS(t, srv.tcp, "localhost", fx.ca.pool)).SerialNumber.Int64(); got != serial {
		t.Errorf("new TLS connection got certificate %d, want %d", got, serial)
	}
	if got := quicLeaf(dialQUIC(t, srv.quic, "localhost", fx.ca.pool)).SerialNumber.Int64(); got != serial {
		t.Errorf("new QUIC connection got certificate %d, want %d", got, serial)
	}
}

// TestFilesRotation rotates the files under a TLS and a QUIC listener:
// connections made before keep the old certificate and keep working, new
// ones get the new certificate; bad files are refused (logged once each) and
// the certificate in use stays; a good file after bad ones is taken.
func TestFilesRotation(t *testing.T) {
	leakCheck(t)
	fx := newFilesFixture(t, -1)
	c1, k1 := fx.ca.issue(t, 1)
	c2, k2 := fx.ca.issue(t, 2)
	c3, k3 := fx.ca.issue(t, 3)
	fx.write(t, c1, k1)
	if err := fx.files.Reload(); err != nil {
		t.Fatal(err)
	}
	srv := startEchoServers(t, nil, TCPConfig(fx.files), QUICConfig(fx.files, "test"))

	tls1 := dialTLS(t, srv.tcp, "localhost", fx.ca.pool)
	quic1 := dialQUIC(t, srv.quic, "localhost", fx.ca.pool)
	if s := tlsLeaf(tls1).SerialNumber.Int64(); s != 1 {
		t.Fatalf("TLS serial %d, want 1", s)
	}
	if s := quicLeaf(quic1).SerialNumber.Int64(); s != 1 {
		t.Fatalf("QUIC serial %d, want 1", s)
	}
	sum := sha256.Sum256(tlsLeaf(tls1).Raw)
	if got, want := fx.files.SHA256(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("SHA256() = %s, want the served leaf's %s", got, want)
	}

	// Rotate in place.
	fx.write(t, c2, k2)
	if err := fx.files.Reload(); err != nil {
		t.Fatal(err)
	}
	checkServed(t, fx, srv, 2)
	echoTLS(t, tls1)
	echoQUIC(t, quic1)
	tls2 := dialTLS(t, srv.tcp, "localhost", fx.ca.pool)

	// Bad versions: each is refused with an error, logged once however
	// often it is reloaded, and certificate 2 stays.
	for i, bad := range []struct {
		name      string
		cert, key []byte
		want      string // in the error
	}{
		{"garbage certificate", []byte("not a certificate\n"), k2, "failed to find any PEM data in certificate input"},
		{"key of another certificate", c3, k2, "private key does not match public key"},
		{"half-written certificate", c3[:len(c3)/2], k3, "failed to find any PEM data in certificate input"},
		{"half-written key", c3, k3[:len(k3)/2], "failed to find any PEM data in key input"},
		{"empty key", c3, nil, "failed to find any PEM data in key input"},
	} {
		fx.write(t, bad.cert, bad.key)
		err := fx.files.Reload()
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("%s: Reload() = %v, want an error with %q", bad.name, err, bad.want)
		}
		if err2 := fx.files.Reload(); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%s: second Reload() = %v, want %v", bad.name, err2, err)
		}
		if n := fx.log.count(slog.LevelWarn, msgRefused); n != i+1 {
			t.Errorf("%s: %d refusals logged, want %d (one per bad version)", bad.name, n, i+1)
		}
		checkServed(t, fx, srv, 2)
	}
	if err := os.Remove(fx.keyFile); err != nil {
		t.Fatal(err)
	}
	if err := fx.files.Reload(); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("key file missing: Reload() = %v", err)
	}
	checkServed(t, fx, srv, 2)

	// A good version after bad ones, replaced atomically.
	renameInto(t, fx.certFile, c3)
	renameInto(t, fx.keyFile, k3)
	if err := fx.files.Reload(); err != nil {
		t.Fatal(err)
	}
	checkServed(t, fx, srv, 3)
	echoTLS(t, tls1)
	echoTLS(t, tls2)
	echoQUIC(t, quic1)
	if s := tlsLeaf(tls2).SerialNumber.Int64(); s != 2 {
		t.Errorf("connection made with certificate 2 reports %d", s)
	}

	// The same content again is not a new load.
	if err := fx.files.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := fx.loaded(); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("OnLoad saw %v, want [1 2 3]", got)
	}
	if n := fx.log.count(slog.LevelInfo, msgLoaded); n != 3 {
		t.Errorf("%d loads logged, want 3", n)
	}
}

// TestFilesPoll checks that Run picks up changed files by itself, logs a bad
// version once however many polls see it, and ignores a touch.
func TestFilesPoll(t *testing.T) {
	leakCheck(t)
	fx := newFilesFixture(t, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{}, 1)
	fx.files.afterPoll = func() {
		select {
		case polled <- struct{}{}:
		default:
		}
	}
	loads := make(chan int64, 10)
	onLoad := fx.files.OnLoad
	fx.files.OnLoad = func(c *tls.Certificate) {
		onLoad(c)
		loads <- c.Leaf.SerialNumber.Int64()
	}
	// polls waits for n polls to end after the call. Polls run one after
	// another, and a signal left over is drained first, so all but the first
	// of them started after the call, and saw what the test did before it.
	polls := func(n int) {
		select {
		case <-polled:
		default:
		}
		for range n {
			wait(t, polled, "poll")
		}
	}

	c1, k1 := fx.ca.issue(t, 1)
	c2, k2 := fx.ca.issue(t, 2)
	c3, k3 := fx.ca.issue(t, 3)
	fx.write(t, c1, k1)
	if err := fx.files.Reload(); err != nil {
		t.Fatal(err)
	}
	wait(t, loads, "load of certificate 1")
	srv := startEchoServers(t, nil, TCPConfig(fx.files), QUICConfig(fx.files, "test"))

	var wg sync.WaitGroup
	wg.Go(func() { fx.files.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	polls(2)
	if len(loads) != 0 {
		t.Fatal("an unchanged file was loaded again")
	}

	renameInto(t, fx.certFile, c2)
	renameInto(t, fx.keyFile, k2)
	if s := wait(t, loads, "load of certificate 2"); s != 2 {
		t.Fatalf("loaded %d, want 2", s)
	}
	checkServed(t, fx, srv, 2)

	// A bad version: logged once over several polls, certificate 2 stays.
	// (Between the two renames above a poll may have seen certificate 2
	// with key 1 and logged that version too.)
	n0 := fx.log.count(slog.LevelWarn, msgRefused)
	renameInto(t, fx.certFile, c2[:len(c2)/2])
	polls(5)
	if n := fx.log.count(slog.LevelWarn, msgRefused); n != n0+1 {
		t.Errorf("%d refusals logged over 5 polls of one bad version, want 1", n-n0)
	}
	checkServed(t, fx, srv, 2)

	// A good version after it.
	fx.write(t, c3, k3)
	if s := wait(t, loads, "load of certificate 3"); s != 3 {
		t.Fatalf("loaded %d, want 3", s)
	}
	checkServed(t, fx, srv, 3)

	// A touch (new mtime, same content) reloads nothing.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(fx.certFile, future, future); err != nil {
		t.Fatal(err)
	}
	polls(3)
	if len(loads) != 0 {
		t.Errorf("a touched file was loaded again: %d", <-loads)
	}
	if got := fx.loaded(); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("OnLoad saw %v, want [1 2 3]", got)
	}
}

// TestFilesErrors covers what fails before anything loaded.
func TestFilesErrors(t *testing.T) {
	leakCheck(t)
	if err := (&Files{}).Reload(); err == nil {
		t.Error("Reload without file names succeeded")
	}
	fx := newFilesFixture(t, -1)
	if _, err := fx.files.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Error("GetCertificate before a load succeeded")
	}
	if fx.files.Certificate() != nil || fx.files.SHA256() != "" {
		t.Error("Certificate or SHA256 set before a load")
	}
	if err := fx.files.Reload(); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Reload of missing files = %v", err)
	}
	if n := fx.log.count(slog.LevelWarn, msgNoneLoad); n != 1 {
		t.Errorf("%d warnings for missing files, want 1", n)
	}
	c1, k1 := fx.ca.issue(t, 1)
	fx.write(t, c1, k1)
	if err := fx.files.Reload(); err != nil {
		t.Fatal(err)
	}
	c, err := fx.files.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil || c != fx.files.Certificate() || c.Leaf.SerialNumber.Int64() != 1 {
		t.Errorf("GetCertificate after a load = %v, %v", c, err)
	}

	// With polling off, Run only waits for its context.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- fx.files.Run(ctx) }()
	cancel()
	if err := wait(t, done, "Run's return"); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
