// Package selfsign makes self-signed certificates that browsers accept for
// WebTransport with serverCertificateHashes: ECDSA P-256, valid for less
// than 14 days.
package selfsign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"time"
)

// MaxValidity is the longest validity browsers accept for a certificate
// pinned by hash (14 days), less a margin.
const MaxValidity = 14*24*time.Hour - time.Hour

// Certificate is a generated certificate and its pin.
type Certificate struct {
	TLS tls.Certificate
	// SHA256 is the lowercase hex SHA-256 of the certificate's DER.
	SHA256 string
	// NotAfter is when the certificate expires.
	NotAfter time.Time
}

// Generate makes a certificate for hosts (DNS names or IP addresses), valid
// from an hour ago for validity (capped at MaxValidity).
func Generate(hosts []string, validity time.Duration) (*Certificate, error) {
	if validity <= 0 || validity > MaxValidity {
		validity = MaxValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "gomoq self-signed"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity - time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("selfsign: %w", err)
	}
	sum := sha256.Sum256(der)
	leaf, _ := x509.ParseCertificate(der)
	return &Certificate{
		TLS:      tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		SHA256:   hex.EncodeToString(sum[:]),
		NotAfter: tmpl.NotAfter,
	}, nil
}

// Pool returns a certificate pool trusting c.
func (c *Certificate) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.TLS.Leaf)
	return p
}
