package moqt_test

// The code snippets of the seed document (shared/seed/server.md), as
// written, with loadCert supplied. Functions named seed* hold one snippet
// each; TestSeedSnippets runs those that do not bind well-known ports or
// register on the global routers.

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/quic"
)

func loadCert() tls.Certificate { return testCert.TLS }

func seedDetailedConfiguration() *moqt.Server {
	server := moqt.Server{
		Addr: "moqt.example.com:9000",
		TLSConfig: &tls.Config{
			NextProtos:         []string{"h3", "moq-00"},
			Certificates:       []tls.Certificate{loadCert()},
			InsecureSkipVerify: false, // Recommended for production
		},
		QUICConfig: &quic.Config{
			Allow0RTT:       true,
			EnableDatagrams: true,
		},
		Config: &moqt.Config{
			CheckHTTPOrigin: func(r *http.Request) bool {
				// Implement proper origin check for security
				return r.Header.Get("Origin") == "https://trusted.example.com"
			},
		},
		Logger: slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
			Level: slog.LevelInfo,
		})),
	}
	return &server
}

func seedDefaultRouter(handlerFunc func(moqt.SetupResponseWriter, *moqt.SetupRequest), handler moqt.SetupHandler) {
	moqt.DefaultRouter.HandleFunc("/path", handlerFunc)
	moqt.DefaultRouter.Handle("/path", handler)

	moqt.HandleFunc("/path", handlerFunc)
	moqt.Handle("/path", handler)
}

func seedCustomRouter(server *moqt.Server, handlerFunc func(moqt.SetupResponseWriter, *moqt.SetupRequest), handler moqt.SetupHandler) {
	router := moqt.NewRouter()
	router.HandleFunc("/path", handlerFunc)
	router.Handle("/path", handler)
	server.Handler = router
}

func seedAccept() {
	var server *moqt.Server
	var mux *moqt.TrackMux

	moqt.HandleFunc("/path", func(w moqt.SetupResponseWriter, r *moqt.SetupRequest) {
		sess, err := server.Accept(w, r, mux)
		if err != nil {
			// Handle error
			return
		}

		// Handle the established session
		_ = sess
	})
}

func seedServeWebTransport(server *moqt.Server) {
	http.HandleFunc("/moq", func(w http.ResponseWriter, r *http.Request) {
		err := server.ServeWebTransport(w, r)
		if err != nil {
			http.Error(w, "Failed to serve MoQ over WebTransport", http.StatusInternalServerError)
			slog.Error("Failed to serve MoQ over WebTransport", "error", err)
		}

		// Fallback to another protocol if not WebTransport
	})

	// Start HTTP/3 server (requires HTTP/3 support)
	http.ListenAndServeTLS(":443", "cert.pem", "key.pem", nil)
}

func seedRun(server *moqt.Server, ln quic.Listener, conn quic.Connection) {
	server.ListenAndServe()
	server.ListenAndServeTLS("cert.pem", "key.pem")
	server.ServeQUICListener(ln)
	server.ServeQUICConn(conn)
}

func seedClose(server *moqt.Server) {
	server.Close() // Immediately closes all sessions and listeners.
	// Use with care, as clients may be disconnected abruptly.
}

func seedShutdown(server *moqt.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := server.Shutdown(ctx) // Waits for sessions to close gracefully,
	// or forces termination on timeout/cancel.
	if err != nil {
		// Forced termination occurred, or shutdown timed out.
	}
	return err
}

var (
	_ = seedDefaultRouter
	_ = seedAccept
	_ = seedServeWebTransport
	_ = seedRun
)

func TestSeedSnippets(t *testing.T) {
	server := seedDetailedConfiguration()
	if server.Addr != "moqt.example.com:9000" || server.Config.CheckHTTPOrigin == nil {
		t.Fatal("detailed configuration lost a field")
	}
	// The router snippets register "/path" twice to show both methods;
	// like net/http's ServeMux, a Router refuses a second registration.
	noop := func(moqt.SetupResponseWriter, *moqt.SetupRequest) {}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("registering /path twice on one router did not panic")
			}
		}()
		seedCustomRouter(server, noop, moqt.SetupHandlerFunc(noop))
	}()

	// Close and Shutdown on running servers, with a session each.
	for _, stop := range []func(*moqt.Server) error{
		func(s *moqt.Server) error { seedClose(s); return nil },
		seedShutdown,
	} {
		srv := startServer(t, acceptInto(nil, nil), nil)
		sess, err := newClient(t, moqt.LiteDraft05).Dial(context.Background(), srv.url("quic", "/"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := stop(srv.Server); err != nil {
			t.Fatalf("stopping: %v", err)
		}
		select {
		case <-sess.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("session survived the server")
		}
	}
}
