package certs

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often Files checks its files when
// Files.PollInterval is zero.
const DefaultPollInterval = 10 * time.Second

// Files serves a certificate and private key read from two PEM files, and
// reads them again when they change: new TLS handshakes get the new
// certificate, connections already made keep theirs.
//
// A new version of the files that does not load (unparsable, a key that does
// not match the certificate, a file still being written, a file missing) is
// refused: the previous certificate stays in use, and the refusal is logged
// once per version of the files. A later good version is taken.
//
// Change is detected by polling each file's size and modification time every
// PollInterval (Run), and on demand by Reload (the relay calls it on SIGHUP).
// Files whose content did not change (touched, or rewritten with the same
// bytes) are not loaded again.
//
// Set the fields before the first call of a method and do not change them
// afterwards. The methods are safe for concurrent use.
type Files struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string
	// KeyFile is the PEM private key of the leaf.
	KeyFile string
	// PollInterval is how often Run checks the files for a change.
	// Zero means DefaultPollInterval (10 s); negative means Run does not
	// poll, and only Reload loads new files.
	PollInterval time.Duration
	// Logger receives a line for each certificate loaded and each version of
	// the files refused. Nil means no logging.
	Logger *slog.Logger
	// OnLoad, if not nil, is called after each load that changed the
	// certificate served, with the new certificate (it must not be
	// modified). It is called synchronously by Reload or Run, one call at
	// a time.
	OnLoad func(*tls.Certificate)

	cur atomic.Pointer[loaded]

	mu      sync.Mutex // guards the fields below, and serialises loads
	seen    [2]fileStat
	badKey  [sha256.Size]byte // version of the files last refused
	badErr  error             // why; nil when the last version loaded
	hasSeen bool

	afterPoll func() // test seam: called by Run after each poll
}

// loaded is a certificate in use.
type loaded struct {
	cert    *tls.Certificate
	version [sha256.Size]byte // SHA-256 over both files' contents
	sha256  string            // lowercase hex SHA-256 of the leaf's DER
}

// fileStat is what polling compares.
type fileStat struct {
	size  int64
	mtime int64 // Unix nanoseconds
	err   string
}

func (f *Files) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

func (f *Files) pollInterval() time.Duration {
	if f.PollInterval == 0 {
		return DefaultPollInterval
	}
	return f.PollInterval
}

// GetCertificate returns the certificate last loaded, for
// tls.Config.GetCertificate. It fails until a load succeeded.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if l := f.cur.Load(); l != nil {
		return l.cert, nil
	}
	return nil, fmt.Errorf("certs: no certificate loaded from %s", f.CertFile)
}

// Certificate returns the certificate last loaded, or nil before the first
// successful load. It must not be modified.
func (f *Files) Certificate() *tls.Certificate {
	if l := f.cur.Load(); l != nil {
		return l.cert
	}
	return nil
}

// SHA256 returns the lowercase hex SHA-256 of the DER of the leaf
// certificate last loaded (the hash browsers pin), or "" before the first
// successful load.
func (f *Files) SHA256() string {
	if l := f.cur.Load(); l != nil {
		return l.sha256
	}
	return ""
}

// Reload reads the files now, whether or not they look changed, and serves
// their certificate from the next handshake on. It is the first load too:
// call it once at start and stop if it fails. When the files do not load, it
// returns why and keeps the previous certificate; the reason is logged once
// per version of the files (not at all when they changed while being read:
// the next poll reads them again), so a caller need not log it. Files with the
// content already served are not loaded again and return nil.
func (f *Files) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load(true)
}

// Run checks the files every PollInterval and loads them when they changed,
// until ctx is done; then it returns nil. Run does not load the files first:
// call Reload for that. At most one Run per Files.
func (f *Files) Run(ctx context.Context) error {
	iv := f.pollInterval()
	if iv < 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f.mu.Lock()
			f.load(false)
			f.mu.Unlock()
			if f.afterPoll != nil {
				f.afterPoll()
			}
		}
	}
}

func (f *Files) stat() [2]fileStat {
	var st [2]fileStat
	for i, name := range [2]string{f.CertFile, f.KeyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			st[i].err = err.Error()
			continue
		}
		st[i].size, st[i].mtime = fi.Size(), fi.ModTime().UnixNano()
	}
	return st
}

// load reads and installs the files; force reads them even when their sizes
// and modification times are those seen last time. f.mu is held.
func (f *Files) load(force bool) error {
	if f.CertFile == "" || f.KeyFile == "" {
		return errors.New("certs: Files needs both CertFile and KeyFile")
	}
	before := f.stat()
	if !force && f.hasSeen && before == f.seen {
		return nil
	}
	certPEM, certErr := os.ReadFile(f.CertFile)
	keyPEM, keyErr := os.ReadFile(f.KeyFile)
	after := f.stat()

	var version [sha256.Size]byte
	var cert tls.Certificate
	err := errors.Join(certErr, keyErr)
	if err == nil {
		h := sha256.New()
		fmt.Fprintf(h, "%d\n", len(certPEM))
		h.Write(certPEM)
		h.Write(keyPEM)
		h.Sum(version[:0])
		if l := f.cur.Load(); l != nil && l.version == version {
			f.seen, f.hasSeen, f.badErr = after, true, nil
			return nil
		}
		cert, err = tls.X509KeyPair(certPEM, keyPEM)
		if err == nil && cert.Leaf == nil { // GODEBUG=x509keypairleaf=0
			cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0])
		}
	} else {
		version = sha256.Sum256([]byte(err.Error()))
	}
	if err != nil {
		err = fmt.Errorf("certs: loading %s and %s: %w", f.CertFile, f.KeyFile, err)
		if after != before {
			// Written to while we read: the next poll reads it again
			// (f.seen is not updated), without a log line for a version
			// that was never whole.
			return err
		}
		f.seen, f.hasSeen = after, true
		if f.badErr != nil && f.badKey == version {
			return f.badErr
		}
		f.badKey, f.badErr = version, err
		if old := f.cur.Load(); old != nil {
			f.logger().Warn("certs: refused new certificate files, keeping the previous certificate",
				"error", err, "serving_sha256", old.sha256)
		} else {
			f.logger().Warn("certs: no certificate loaded", "error", err)
		}
		return err
	}
	f.seen, f.hasSeen, f.badErr = after, true, nil
	l := &loaded{cert: &cert, version: version, sha256: LeafSHA256(&cert)}
	f.cur.Store(l)
	f.logger().Info("certs: loaded certificate",
		"cert", f.CertFile,
		"subject", cert.Leaf.Subject.String(),
		"dns_names", cert.Leaf.DNSNames,
		"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339),
		"sha256", l.sha256)
	if time.Now().After(cert.Leaf.NotAfter) {
		f.logger().Warn("certs: the certificate loaded has expired",
			"cert", f.CertFile, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if f.OnLoad != nil {
		f.OnLoad(&cert)
	}
	return nil
}

// LeafSHA256 returns the lowercase hex SHA-256 of the DER of c's leaf (its
// first certificate), or "" if c has none.
func LeafSHA256(c *tls.Certificate) string {
	if c == nil || len(c.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(c.Certificate[0])
	return hex.EncodeToString(sum[:])
}
