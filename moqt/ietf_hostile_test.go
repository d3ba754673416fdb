package moqt_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/moqt/internal/ietf"
	"github.com/gomoq/gomoq/quic"
)

// rawIETF is a hand-driven IETF client: a native QUIC connection whose
// control stream carries a SETUP with no options, and nothing else unless a
// test writes it.
type rawIETF struct {
	t      *testing.T
	v      ietf.Version
	conn   quic.Connection
	ctrl   quic.SendStream
	nextID uint64 // the next well-formed Request ID (even: we are the client)
}

func dialRawIETF(t *testing.T, ctx context.Context, srv *testServer, v moqt.Version) *rawIETF {
	t.Helper()
	conn, err := quic.DialAddr(ctx, srv.addr, &tls.Config{RootCAs: testCert.Pool(), NextProtos: []string{v.String()}}, &quic.Config{EnableDatagrams: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	ctrl, err := conn.OpenUniStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.Write(ietfSetup); err != nil {
		t.Fatal(err)
	}
	return &rawIETF{t: t, v: ietf.Version(v), conn: conn, ctrl: ctrl}
}

// id returns the next well-formed Request ID.
func (c *rawIETF) id() uint64 {
	id := c.nextID
	c.nextID += 2
	return id
}

// request opens a request stream and writes b on it.
func (c *rawIETF) request(ctx context.Context, b []byte) (quic.Stream, *ietf.Reader) {
	c.t.Helper()
	str, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		c.t.Fatalf("opening a request stream: %v", err)
	}
	if len(b) > 0 {
		if _, err := str.Write(b); err != nil {
			c.t.Fatalf("writing a request: %v", err)
		}
	}
	return str, ietf.NewReader(str, c.v, 1<<16)
}

func (c *rawIETF) subscribe(id uint64, broadcast, track string) []byte {
	m := ietf.Subscribe{RequestID: id, Namespace: ietf.Namespace{broadcast}, Track: track}
	return m.Append(nil, c.v)
}

// refused asserts that the reply on r is REQUEST_ERROR with code want.
func (c *rawIETF) refused(r *ietf.Reader, what string, want ietf.RequestErrorCode) {
	c.t.Helper()
	typ, payload, err := r.ReadControl()
	if err != nil || typ != ietf.MsgRequestError {
		c.t.Fatalf("%s: reply type 0x%x, %v; want REQUEST_ERROR", what, typ, err)
	}
	var m ietf.RequestError
	if err := m.Parse(payload, c.v); err != nil {
		c.t.Fatalf("%s: REQUEST_ERROR: %v", what, err)
	}
	if ietf.RequestErrorCode(m.Code) != want {
		c.t.Fatalf("%s: REQUEST_ERROR %v (%q), want %v", what, ietf.RequestErrorCode(m.Code), m.Reason, want)
	}
}

// alive asserts that the session still answers: a SUBSCRIBE to a missing
// broadcast gets DOES_NOT_EXIST.
func (c *rawIETF) alive(ctx context.Context, after string) {
	c.t.Helper()
	if err := c.conn.Context().Err(); err != nil {
		c.t.Fatalf("after %s the session ended: %v", after, context.Cause(c.conn.Context()))
	}
	_, r := c.request(ctx, c.subscribe(c.id(), "missing", "t"))
	c.refused(r, "a request after "+after, ietf.RequestDoesNotExist)
}

// closedWith waits for the server to close the connection and asserts its
// error code.
func (c *rawIETF) closedWith(ctx context.Context, what string, want ietf.SessionCode) {
	c.t.Helper()
	select {
	case <-c.conn.Context().Done():
	case <-ctx.Done():
		c.t.Fatalf("%s: the session is still open", what)
	}
	var ae *quic.ApplicationError
	if err := context.Cause(c.conn.Context()); !errors.As(err, &ae) || !ae.Remote || ietf.SessionCode(ae.ErrorCode) != want {
		c.t.Fatalf("%s: the session ended with %v, want the server's %v", what, err, want)
	}
}

// TestIETFHostile: a raw IETF peer sends, after a valid SETUP, what the
// drafts forbid. Each violation closes that peer's session with the code
// drafts 17-20 name (PROTOCOL_VIOLATION: an unknown or misplaced message, a
// length that does not match the body, an unknown or repeated parameter;
// INVALID_REQUEST_ID: a Request ID of the server's parity, or one used
// before). Each request we do not serve or cannot satisfy is refused with
// REQUEST_ERROR and the session carries on, as it does through a flood of
// group streams for unknown aliases, garbage datagrams, a request stream
// left empty and a gap in the Request IDs. Afterwards a well-behaved client
// on the same draft still gets its track, and nothing leaks.
func TestIETFHostile(t *testing.T) {
	for _, v := range moqt.IETFVersions() {
		t.Run(v.String(), func(t *testing.T) {
			leakCheck(t)
			iv := ietf.Version(v)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			mux := moqt.NewTrackMux()
			mux.PublishFunc(ctx, "/room", func(tw *moqt.TrackWriter) {
				// Each subscription gets group 0, then the track stays open.
				if gw, err := tw.OpenGroup(tw.Context(), 0); err == nil {
					gw.WriteFrame(tw.Context(), moqt.NewFrame([]byte("0")))
					gw.Close()
				}
				<-tw.Context().Done()
			})
			srv := startServer(t, acceptInto(mux, nil), &moqt.Config{MaxSubscriptions: 4, StreamHeaderTimeout: 200 * time.Millisecond})

			violations := []struct {
				name string
				code ietf.SessionCode
				do   func(c *rawIETF)
			}{
				{"an unknown message type opening a request", ietf.SessionProtocolViolation, func(c *rawIETF) {
					c.request(ctx, ietfControl(0x3e, nil))
				}},
				{"a response type opening a request", ietf.SessionProtocolViolation, func(c *rawIETF) {
					ok := ietf.SubscribeOK{TrackAlias: 1}
					c.request(ctx, ok.Append(nil, iv))
				}},
				{"a length beyond the body", ietf.SessionProtocolViolation, func(c *rawIETF) {
					b := ietfControl(ietf.MsgSubscribe, make([]byte, 10))
					b[len(b)-12], b[len(b)-11] = 0, 200 // claims 200 bytes, then FIN after 10
					str, _ := c.request(ctx, b)
					str.Close()
				}},
				{"a garbage SUBSCRIBE body", ietf.SessionProtocolViolation, func(c *rawIETF) {
					c.request(ctx, ietfControl(ietf.MsgSubscribe, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
				}},
				{"a garbage TRACK_STATUS body", ietf.SessionProtocolViolation, func(c *rawIETF) {
					c.request(ctx, ietfControl(ietf.MsgTrackStatus, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))
				}},
				{"an unknown parameter", ietf.SessionProtocolViolation, func(c *rawIETF) {
					m := ietf.Subscribe{RequestID: c.id(), Namespace: ietf.Namespace{"room"}, Track: "t",
						Params: ietf.Params{{Type: ietf.ParamNewGroupRequest, Value: 1}}}
					b := m.Append(nil, iv)
					// The last parameter is Type 0x32, Value 1 (one byte each):
					// make its type 0x3e, which no draft defines.
					if b[len(b)-2] != byte(ietf.ParamNewGroupRequest) {
						c.t.Fatalf("unexpected SUBSCRIBE encoding % x", b)
					}
					b[len(b)-2] = 0x3e
					c.request(ctx, b)
				}},
				{"a repeated parameter", ietf.SessionProtocolViolation, func(c *rawIETF) {
					m := ietf.Subscribe{RequestID: c.id(), Namespace: ietf.Namespace{"room"}, Track: "t",
						Params: ietf.Params{{Type: ietf.ParamSubscriberPriority, Value: 1}, {Type: ietf.ParamGroupOrder, Value: 2}}}
					b := m.Append(nil, iv)
					// The parameters end 0x20 1 0x02 2 (type deltas and
					// uint8 values): a delta of 0 repeats SUBSCRIBER_PRIORITY.
					if b[len(b)-4] != byte(ietf.ParamSubscriberPriority) || b[len(b)-2] != 2 {
						c.t.Fatalf("unexpected SUBSCRIBE encoding % x", b)
					}
					b[len(b)-2] = 0
					c.request(ctx, b)
				}},
				{"a second SUBSCRIBE on a subscription stream", ietf.SessionProtocolViolation, func(c *rawIETF) {
					str, r := c.request(ctx, c.subscribe(c.id(), "room", "t"))
					if typ, _, err := r.ReadControl(); err != nil || typ != ietf.MsgSubscribeOK {
						c.t.Fatalf("reply to SUBSCRIBE: 0x%x, %v", typ, err)
					}
					str.Write(c.subscribe(c.id(), "room", "t"))
				}},
				{"a SUBSCRIBE_OK on a PUBLISH_NAMESPACE stream", ietf.SessionProtocolViolation, func(c *rawIETF) {
					m := ietf.PublishNamespace{RequestID: c.id(), Namespace: ietf.Namespace{"mine"}}
					str, r := c.request(ctx, m.Append(nil, iv))
					if typ, _, err := r.ReadControl(); err != nil || typ != ietf.MsgRequestOK {
						c.t.Fatalf("reply to PUBLISH_NAMESPACE: 0x%x, %v", typ, err)
					}
					ok := ietf.SubscribeOK{TrackAlias: 1}
					str.Write(ok.Append(nil, iv))
				}},
				{"a second SETUP", ietf.SessionProtocolViolation, func(c *rawIETF) {
					str, err := c.conn.OpenUniStream()
					if err != nil {
						c.t.Fatal(err)
					}
					str.Write(ietfSetup)
				}},
				{"an unknown message on the control stream", ietf.SessionProtocolViolation, func(c *rawIETF) {
					c.ctrl.Write(ietfControl(0x3e, nil))
				}},
				{"a truncated message on the control stream", ietf.SessionProtocolViolation, func(c *rawIETF) {
					c.ctrl.Write(ietfControl(ietf.MsgGoaway, []byte{5, 'a'})[:4])
					c.ctrl.Close()
				}},
				{"a Request ID of the server's parity", ietf.SessionInvalidRequestID, func(c *rawIETF) {
					c.request(ctx, c.subscribe(1, "room", "t"))
				}},
				{"a Request ID used before", ietf.SessionInvalidRequestID, func(c *rawIETF) {
					_, r := c.request(ctx, c.subscribe(0, "missing", "t"))
					c.refused(r, "the first use of Request ID 0", ietf.RequestDoesNotExist)
					c.request(ctx, c.subscribe(0, "missing", "t"))
				}},
			}
			for _, tc := range violations {
				c := dialRawIETF(t, ctx, srv, v)
				tc.do(c)
				c.closedWith(ctx, tc.name, tc.code)
			}

			// One session through everything that must not end it.
			c := dialRawIETF(t, ctx, srv, v)
			for _, typ := range []uint64{ietf.MsgFetch, ietf.MsgPublish} {
				_, r := c.request(ctx, ietfControl(typ, nil))
				c.refused(r, fmt.Sprintf("request type 0x%x", typ), ietf.RequestNotSupported)
			}
			c.alive(ctx, "unsupported requests")
			// TRACK_STATUS is answered: REQUEST_OK for a track that exists
			// (then the FIN), DOES_NOT_EXIST for one that does not.
			status := func(broadcast string) []byte {
				m := ietf.TrackStatus{RequestID: c.id(), Namespace: ietf.Namespace{broadcast}, Track: "t"}
				return m.Append(nil, iv)
			}
			_, r := c.request(ctx, status("missing"))
			c.refused(r, "TRACK_STATUS of a missing track", ietf.RequestDoesNotExist)
			_, r = c.request(ctx, status("room"))
			if typ, payload, err := r.ReadControl(); err != nil || typ != ietf.MsgRequestOK {
				t.Fatalf("TRACK_STATUS of a published track: reply 0x%x, %v; want REQUEST_OK", typ, err)
			} else if err := new(ietf.RequestOK).Parse(payload, iv); err != nil {
				t.Fatalf("TRACK_STATUS_OK: %v", err)
			}
			if _, _, err := r.ReadControl(); !errors.Is(err, io.EOF) {
				t.Fatalf("after TRACK_STATUS_OK: %v, want the FIN", err)
			}
			c.alive(ctx, "track status requests")

			// A gap in the Request IDs (a request stream the peer gave up
			// before its first message) is not a duplicate.
			c.nextID += 4
			c.alive(ctx, "a gap in the Request IDs")

			// A request stream that never gets its request (a type, then
			// nothing) is reset after the stream header timeout.
			empty, _ := c.request(ctx, ietf.AppendVarint(nil, ietf.MsgSubscribe))
			if _, err := empty.Read(make([]byte, 1)); err == nil {
				t.Fatal("an empty request stream was answered")
			}
			c.alive(ctx, "an empty request stream")

			// Group streams for an alias nobody announced, and datagrams of
			// garbage.
			for i := range 300 {
				str, err := c.conn.OpenUniStreamSync(ctx)
				if err != nil {
					t.Fatalf("group stream %d: %v", i, err)
				}
				h := ietf.AppendVarint(nil, 0x10) // SUBGROUP_HEADER, subgroup 0
				h = ietf.AppendVarint(h, 1000+uint64(i))
				h = ietf.AppendVarint(h, 0)
				h = append(h, 0x80)
				str.Write(append(h, make([]byte, 100)...))
				str.Close()
			}
			for range 100 {
				d := make([]byte, 50)
				rand.Read(d)
				if err := c.conn.SendDatagram(d); err != nil {
					t.Fatalf("SendDatagram: %v", err)
				}
			}
			c.alive(ctx, "group streams for unknown aliases and garbage datagrams")

			// The subscription limit: 4 served at once, the 5th refused (last:
			// the 4 stay open).
			for i := range 4 {
				_, r := c.request(ctx, c.subscribe(c.id(), "room", "t"))
				if typ, _, err := r.ReadControl(); err != nil || typ != ietf.MsgSubscribeOK {
					t.Fatalf("subscription %d: reply 0x%x, %v", i, typ, err)
				}
			}
			_, r = c.request(ctx, c.subscribe(c.id(), "room", "t"))
			c.refused(r, "a 5th subscription", ietf.RequestExcessiveLoad)

			// A well-behaved client on the same draft gets its track.
			sess, err := newClient(t, v).Dial(ctx, srv.url("quic", "/"), nil)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := sess.Subscribe(ctx, "/room", "t", nil)
			if err != nil {
				t.Fatalf("a well-behaved client after the hostile ones: %v", err)
			}
			gr, err := tr.AcceptGroup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := gr.ReadFrame(); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			tr.Close()
			sess.Terminate(moqt.NoError, "")
			c.conn.CloseWithError(0, "")
		})
	}
}
