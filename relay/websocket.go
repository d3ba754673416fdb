package relay

import (
	"net/http"

	"github.com/gomoq/gomoq/moqt"
)

// WebSocketHandler returns a handler that serves WebSocket upgrades (QMux,
// the fallback of browsers without WebTransport) at any path with
// srv.ServeWebSocket, and everything else with next. srv's Handler decides
// on the session as it does for WebTransport: with SetupHandler, the path
// and ?jwt= mean exactly what they mean there.
func (r *Relay) WebSocketHandler(srv *moqt.Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !moqt.IsWebSocketUpgrade(req) {
			next.ServeHTTP(w, req)
			return
		}
		if err := srv.ServeWebSocket(w, req); err != nil {
			r.logger.Debug("relay: WebSocket request refused", "remote", req.RemoteAddr, "path", req.URL.Path, "error", err)
		}
	})
}
