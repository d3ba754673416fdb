package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"golang.org/x/net/dns/dnsmessage"
)

// pebble is Let's Encrypt's test CA, run in-process from its packages the
// way its cmd/pebble wires them: one memory store, a CA, a VA that really
// validates the challenges (PEBBLE_VA_ALWAYS_VALID is not set) and the WFE
// (the ACME server) over HTTPS, plus its management interface for the
// issuing root.
type pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// Client trusts the WFE's HTTPS certificate; it fails every request
	// once the test ended, so that autocert's renewal timers firing later
	// reach nothing.
	Client *http.Client
	// Roots holds the root Pebble issues certificates under.
	Roots *x509.CertPool
}

// startPebble starts a Pebble whose VA connects to httpPort for HTTP-01
// and tlsPort for TLS-ALPN-01, and resolves every name to 127.0.0.1 with a
// DNS server of the test's. validity, if not zero, is the lifetime of the
// certificates it issues, in seconds (Pebble's default is 90 days).
func startPebble(t *testing.T, httpPort, tlsPort int, validity uint64) *pebble {
	t.Helper()
	// Read by va.New and wfe.New: no random sleeps before validations (up
	// to 5 s each otherwise), no nonces refused at random (5 % by default,
	// each costing autocert a retry with a back-off), and no reuse of valid
	// authorizations (50 % by default), so that every order, renewals too,
	// is validated again.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")

	logs := &pebbleLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Pebble's log:\n%s", logs.close())
		} else {
			logs.close()
		}
	})
	logger := log.New(logs, "pebble ", log.Lmicroseconds)

	store := db.NewMemoryStore()
	profiles := map[string]ca.Profile{"default": {Description: "test", ValidityPeriod: validity}}
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, profiles)
	validator := va.New(logger, httpPort, tlsPort, false, startDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	acmeSrv := httptest.NewUnstartedServer(front.Handler())
	acmeSrv.Config.ErrorLog = logger
	acmeSrv.StartTLS()
	mgmt := httptest.NewTLSServer(front.ManagementHandler())

	closed := &closingTransport{rt: acmeSrv.Client().Transport}
	t.Cleanup(func() {
		closed.close()
		acmeSrv.Close()
		mgmt.Close()
	})

	res, err := mgmt.Client().Get(mgmt.URL + wfe.RootCertPath + "0")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	mgmt.Client().CloseIdleConnections()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("Pebble's root: %s, %v", res.Status, err)
	}
	block, _ := pem.Decode(body)
	if block == nil {
		t.Fatalf("Pebble's root is not PEM: %q", body)
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	return &pebble{
		DirectoryURL: acmeSrv.URL + wfe.DirectoryPath,
		Client:       &http.Client{Transport: closed},
		Roots:        roots,
	}
}

// closingTransport is a RoundTripper that fails once closed.
type closingTransport struct {
	rt     http.RoundTripper
	closed atomic.Bool
}

func (c *closingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.closed.Load() {
		return nil, errors.New("the test's Pebble is gone")
	}
	return c.rt.RoundTrip(r)
}

func (c *closingTransport) close() { c.closed.Store(true) }

// pebbleLog keeps Pebble's log for a failing test; writes after close are
// dropped (Pebble's goroutines may log after the test).
type pebbleLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (l *pebbleLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.buf.Write(b)
	}
	return len(b), nil
}

func (l *pebbleLog) close() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.buf.String()
}

// startDNS serves DNS over TCP (what Pebble's VA uses with a custom
// resolver) on a loopback port, answering every A question with 127.0.0.1
// and every other question with no records. It returns its address; it is
// closed when t ends.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				serveDNS(c)
			})
		}
	})
	return ln.Addr().String()
}

// serveDNS answers the length-prefixed DNS queries on c until it fails.
func serveDNS(c net.Conn) {
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return
		}
		question, err := p.Question()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{
			ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired,
		})
		b.EnableCompression()
		b.StartQuestions()
		b.Question(question)
		b.StartAnswers()
		if question.Type == dnsmessage.TypeA {
			b.AResource(dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
		}
		msg, err := b.Finish()
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(msg, uint16(len(msg)-2))
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}
