package qmux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/coder/websocket"
)

// Subprotocol returns the WebSocket subprotocol that selects wire format v
// for the application protocol alpn: "qmux-01.moq-lite-05".
func Subprotocol(v Version, alpn string) string { return v.String() + "." + alpn }

// ParseSubprotocol splits a WebSocket subprotocol into its wire format and
// application protocol. A bare "qmux-0N" has no application protocol; the
// legacy "webtransport" format and anything else are not QMux.
func ParseSubprotocol(s string) (Version, string, bool) {
	for _, v := range Versions {
		p := v.String()
		if s == p {
			return v, "", true
		}
		if alpn, ok := strings.CutPrefix(s, p+"."); ok && alpn != "" {
			return v, alpn, true
		}
	}
	return 0, "", false
}

// WebSocket returns a Transport carrying one record in each binary message
// of c (draft-lcurley-qmux-websocket). local and remote are reported as
// the connection's addresses; either may be nil.
func WebSocket(c *websocket.Conn, local, remote net.Addr) Transport {
	// A record is at most max_record_size (which we keep at the default)
	// and a draft-00 frame at most 16384 bytes.
	c.SetReadLimit(maxFrameSize)
	if local == nil {
		local = wsAddr("websocket")
	}
	if remote == nil {
		remote = wsAddr("websocket")
	}
	return &wsTransport{c: c, local: local, remote: remote}
}

type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

type wsTransport struct {
	c             *websocket.Conn
	local, remote net.Addr
	buf           []byte
}

func (t *wsTransport) ReadRecord() ([]byte, error) {
	typ, r, err := t.c.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		t.c.Close(websocket.StatusUnsupportedData, "QMux carries binary messages only")
		return nil, errors.New("qmux: text message on a QMux WebSocket")
	}
	t.buf = t.buf[:0]
	for {
		if len(t.buf) == cap(t.buf) {
			t.buf = append(t.buf, 0)[:len(t.buf)]
		}
		n, err := r.Read(t.buf[len(t.buf):cap(t.buf)])
		t.buf = t.buf[:len(t.buf)+n]
		if err == io.EOF {
			return t.buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("qmux: reading a WebSocket message: %w", err)
		}
	}
}

func (t *wsTransport) WriteRecord(ctx context.Context, b []byte) error {
	return t.c.Write(ctx, websocket.MessageBinary, b)
}

// Close sends a WebSocket close frame and closes the connection.
func (t *wsTransport) Close() error {
	return t.c.Close(websocket.StatusNormalClosure, "")
}

func (t *wsTransport) LocalAddr() net.Addr  { return t.local }
func (t *wsTransport) RemoteAddr() net.Addr { return t.remote }
