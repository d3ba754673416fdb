// Package certs gives the relay's listeners their TLS certificates, from
// files that are re-read when they change, or from an ACME CA such as
// Let's Encrypt.
//
// # Files
//
// Files serves a PEM certificate and key pair. Reload reads the files (call
// it at start, and on SIGHUP); Run polls their sizes and modification times
// every PollInterval (10 s by default) and loads them when they changed. New
// handshakes get the new certificate, connections already made keep theirs.
// A version of the files that does not load (unparsable, key not matching,
// half written, missing) is refused and logged once, and the previous
// certificate stays in use until a good version appears:
//
//	files := &certs.Files{CertFile: "cert.pem", KeyFile: "key.pem", Logger: logger}
//	if err := files.Reload(); err != nil {
//		return err
//	}
//	go files.Run(ctx) // returns when ctx is done
//	// on SIGHUP: files.Reload()
//
// # ACME
//
// ACME obtains and renews certificates for its Hosts with
// golang.org/x/crypto/acme/autocert, keeping them in CacheDir. The CA checks
// control of a host with TLS-ALPN-01, answered by the TCP listener
// configured by TCPConfig (the CA connects to port 443), or with HTTP-01,
// answered on HTTPListen (the CA connects to port 80):
//
//	a := &certs.ACME{Hosts: []string{"relay.example.com"}, CacheDir: "/var/lib/moq-relay/acme",
//		Email: "ops@example.com", HTTPListen: ":80", Logger: logger}
//	if err := a.Validate(); err != nil {
//		return err
//	}
//	go a.Run(ctx)    // the HTTP-01 listener; returns when ctx is done
//	go a.Obtain()    // get the certificates before the first client asks
//
// # Listeners
//
// One Source (a *Files, an *ACME or a SourceFunc) serves every listener:
// QUICConfig for QUIC (native moq-lite and WebTransport; it never offers
// "acme-tls/1") and TCPConfig for the HTTPS and WebSocket listener ("h2",
// "http/1.1", and "acme-tls/1" for an ACME source).
//
//	server.TLSConfig = certs.QUICConfig(src)       // moqt.Server adds h3 and the moq ALPNs
//	httpServer.TLSConfig = certs.TCPConfig(src)
//	httpServer.ServeTLS(tcpListener, "", "")
package certs
