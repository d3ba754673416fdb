package certs

import (
	"crypto/tls"
	"errors"
	"slices"

	"golang.org/x/crypto/acme"
)

// Source gives a TLS listener its certificates: a *Files, an *ACME, or a
// SourceFunc (for a fixed certificate).
type Source interface {
	// GetCertificate is called for each TLS handshake, as
	// tls.Config.GetCertificate.
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(*tls.ClientHelloInfo) (*tls.Certificate, error)

// GetCertificate calls f(hello).
func (f SourceFunc) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f(hello)
}

// errACMEOverQUIC refuses a QUIC handshake that asks for a TLS-ALPN-01
// challenge certificate: ACME validates that challenge over TCP only.
var errACMEOverQUIC = errors.New("certs: " + acme.ALPNProto + " is not offered over QUIC")

// QUICConfig returns a TLS configuration for a QUIC listener (native
// moq-lite and WebTransport over HTTP/3) that takes its certificates from
// src and offers the ALPN protocols nextProtos (none: moqt.Server adds "h3"
// and its moq protocols itself). It never offers "acme-tls/1", and it refuses
// a handshake that offers only that protocol: TLS-ALPN-01 challenges are
// answered on the TCP listener (TCPConfig).
func QUICConfig(src Source, nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if wantsTokenCert(hello) {
				return nil, errACMEOverQUIC
			}
			return src.GetCertificate(hello)
		},
		NextProtos: slices.DeleteFunc(slices.Clone(nextProtos), func(p string) bool { return p == acme.ALPNProto }),
	}
}

// TCPConfig returns a TLS configuration for the TCP listener (HTTPS and
// WebSocket) that takes its certificates from src and offers the ALPN
// protocols "h2" and "http/1.1", and "acme-tls/1" too when src is an *ACME,
// so that its TLS-ALPN-01 challenges are answered there. Use it with
// http.Server.ServeTLS(ln, "", "").
func TCPConfig(src Source) *tls.Config {
	if a, ok := src.(*ACME); ok {
		return a.tcpConfig()
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: src.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// wantsTokenCert reports whether hello is an ACME server's TLS-ALPN-01
// validation (RFC 8737: it offers acme-tls/1 alone).
func wantsTokenCert(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
}
