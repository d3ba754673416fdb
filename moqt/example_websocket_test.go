package moqt_test

import (
	"net/http"

	"github.com/gomoq/gomoq/moqt"
)

// Serving WebSocket (QMux) beside the QUIC listener: browsers without
// WebTransport reach the same Handler through any net/http server.
func ExampleServer_ServeWebSocket() {
	server := &moqt.Server{Addr: ":4443"} // TLSConfig, Handler, ...
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if moqt.IsWebSocketUpgrade(r) {
			server.ServeWebSocket(w, r)
			return
		}
		http.NotFound(w, r)
	})
	go http.ListenAndServe(":4443", mux) // TCP: ws:// (or wss:// with ListenAndServeTLS)
	// server.ListenAndServe() serves QUIC and WebTransport on UDP.
}
