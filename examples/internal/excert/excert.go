// Package excert supplies the examples' loadCert: a certificate from PEM
// files when given, else a freshly generated self-signed one for localhost.
package excert

import (
	"crypto/tls"
	"log"

	"github.com/gomoq/gomoq/internal/selfsign"
)

// Load returns the certificate in certFile and keyFile, or a self-signed
// certificate for localhost, 127.0.0.1 and ::1 when both are empty.
func Load(certFile, keyFile string) tls.Certificate {
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			log.Fatalf("loading certificate: %v", err)
		}
		return cert
	}
	c, err := selfsign.Generate([]string{"localhost", "127.0.0.1", "::1"}, 0)
	if err != nil {
		log.Fatalf("generating certificate: %v", err)
	}
	log.Printf("self-signed certificate sha256=%s", c.SHA256)
	return c.TLS
}
