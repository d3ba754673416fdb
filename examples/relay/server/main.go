// Command server is the seed's overview example: a MoQ server that serves
// WebTransport (through net/http's DefaultServeMux) and native QUIC on one
// UDP port, routes the setup path with moqt.HandleFunc, and accepts every
// session. Only loadCert and the address flag differ from the seed.
//
//	go run ./examples/relay/server -addr localhost:9000
package main

import (
	"crypto/tls"
	"flag"
	"log/slog"
	"net/http"
	"os"

	"github.com/gomoq/gomoq/examples/internal/excert"
	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
)

var (
	addr     = flag.String("addr", "moqt.example.com:9000", "UDP address to serve on")
	certFile = flag.String("cert", "", "PEM certificate (default: a generated self-signed one)")
	keyFile  = flag.String("key", "", "PEM key of -cert")
)

func loadCert() tls.Certificate { return excert.Load(*certFile, *keyFile) }

func main() {
	flag.Parse()
	server := moqt.Server{
		Addr: *addr,
		TLSConfig: &tls.Config{
			NextProtos:         []string{"h3", "moq-00"},
			Certificates:       []tls.Certificate{loadCert()},
			InsecureSkipVerify: false,
		},
		QUICConfig: &quic.Config{
			Allow0RTT:       true,
			EnableDatagrams: true,
		},
		Config: &moqt.Config{
			CheckHTTPOrigin: func(r *http.Request) bool {
				return r.Header.Get("Origin") == "https://trusted.example.com"
			},
		},
		Logger: slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
			Level: slog.LevelInfo,
		})),
	}

	path := "/relay"

	// Handle WebTransport connections
	http.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		err := server.ServeWebTransport(w, r)
		if err != nil {
			slog.Error("Failed to serve MoQ over WebTransport", "error", err)
		}
	})

	// Set up MoQ handler
	moqt.HandleFunc(path, func(w moqt.SetupResponseWriter, r *moqt.SetupRequest) {
		sess, err := server.Accept(w, r, nil)
		if err != nil {
			slog.Error("Failed to accept session", "error", err)
			return
		}

		slog.Info("New session established", "remote", sess.RemoteAddr(), "version", sess.Version().String())

		// Handle announcements and tracks...
	})

	err := server.ListenAndServe()
	if err != nil {
		slog.Error("Failed to start server", "error", err)
	}
}
