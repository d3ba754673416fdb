package moqt_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/moqt/internal/ietf"
)

// ietfControl frames an IETF control message of any type: Type (vi64),
// 16-bit Length, payload.
func ietfControl(typ uint64, payload []byte) []byte {
	b := ietf.AppendVarint(nil, typ)
	b = append(b, byte(len(payload)>>8), byte(len(payload)))
	return append(b, payload...)
}

// ietfSetup is a SETUP with no options: type 0x2F00 as a two-byte vi64.
var ietfSetup = []byte{0xaf, 0x00, 0x00, 0x00}

// TestIETFPublishNamespace: a peer that does not know MoQ Solicit (as
// moxygen-style publishers) advertises with an unsolicited
// PUBLISH_NAMESPACE; the server answers REQUEST_OK, its AcceptAnnounce
// reader sees the broadcast until the peer closes the request stream (the
// draft-17+ PUBLISH_NAMESPACE_DONE). (A malformed request closes the
// session: TestIETFHostile.)
func TestIETFPublishNamespace(t *testing.T) {
	for _, v := range moqt.IETFVersions() {
		t.Run(v.String(), func(t *testing.T) {
			leakCheck(t)
			sessions := make(chan *moqt.Session, 1)
			srv := startServer(t, acceptInto(moqt.NewTrackMux(), sessions), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn := dialRawIETF(t, ctx, srv, v).conn
			var sess *moqt.Session
			select {
			case sess = <-sessions:
			case <-ctx.Done():
				t.Fatal("no session accepted")
			}
			if sess.Version() != v {
				t.Fatalf("server negotiated %v, want %v", sess.Version(), v)
			}
			type accepted struct {
				ar  *moqt.AnnouncementReader
				err error
			}
			arc := make(chan accepted, 1)
			go func() {
				ar, err := sess.AcceptAnnounce(ctx, "/room")
				arc <- accepted{ar, err}
			}()
			// Answer the server's SUBSCRIBE_NAMESPACE with REQUEST_OK and
			// no entries (the advertisement comes the other way).
			sn, err := conn.AcceptStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ok := []byte{0x00} // no parameters (18+: no Track Properties either)
			if _, err := sn.Write(ietfControl(0x07, ok)); err != nil {
				t.Fatal(err)
			}
			got := <-arc
			if got.err != nil {
				t.Fatal(got.err)
			}
			ar := got.ar

			// PUBLISH_NAMESPACE: Request ID 0, [draft 17: delta 0],
			// namespace ("room", "alice"), no parameters.
			payload := []byte{0x00}
			if v == moqt.IETFDraft17 {
				payload = append(payload, 0x00)
			}
			payload = append(payload, 0x02, 0x04, 'r', 'o', 'o', 'm', 0x05, 'a', 'l', 'i', 'c', 'e', 0x00)
			pn, err := conn.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pn.Write(ietfControl(0x06, payload)); err != nil {
				t.Fatal(err)
			}
			var resp [3]byte
			if _, err := io.ReadFull(pn, resp[:]); err != nil || resp[0] != 0x07 {
				t.Fatalf("reply to PUBLISH_NAMESPACE: % x, %v; want REQUEST_OK (0x07)", resp, err)
			}
			a, err := ar.ReceiveAnnouncement(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if a.BroadcastPath() != "/room/alice" {
				t.Fatalf("announced %s, want /room/alice", a.BroadcastPath())
			}

			// Closing the request stream withdraws the namespace.
			pn.Close()
			select {
			case <-a.Done():
			case <-ctx.Done():
				t.Fatal("the end of the PUBLISH_NAMESPACE stream did not end the announcement")
			}
			if sess.Context().Err() != nil {
				t.Fatalf("session ended: %v", context.Cause(sess.Context()))
			}
		})
	}
}

// TestIETFRequestUpdateAnswered: a REQUEST_UPDATE on a subscription stream
// is applied and answered with REQUEST_OK on that stream, after the
// SUBSCRIBE_OK, once per update; the publisher sees the new priority.
func TestIETFRequestUpdateAnswered(t *testing.T) {
	for _, v := range moqt.IETFVersions() {
		t.Run(v.String(), func(t *testing.T) {
			leakCheck(t)
			iv := ietf.Version(v)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			writers := make(chan *moqt.TrackWriter, 1)
			mux := moqt.NewTrackMux()
			mux.PublishFunc(ctx, "/room", func(tw *moqt.TrackWriter) {
				writers <- tw
				<-tw.Context().Done()
			})
			srv := startServer(t, acceptInto(mux, nil), nil)
			conn := dialRawIETF(t, ctx, srv, v).conn
			str, err := conn.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sub := ietf.Subscribe{RequestID: 0, Namespace: ietf.Namespace{"room"}, Track: "t"}
			if _, err := str.Write(sub.Append(nil, iv)); err != nil {
				t.Fatal(err)
			}
			r := ietf.NewReader(str, iv, 1<<16)
			if typ, _, err := r.ReadControl(); err != nil || typ != ietf.MsgSubscribeOK {
				t.Fatalf("reply to SUBSCRIBE: type 0x%x, %v; want SUBSCRIBE_OK", typ, err)
			}
			var tw *moqt.TrackWriter
			select {
			case tw = <-writers:
			case <-ctx.Done():
				t.Fatal("the publisher was not asked for the track")
			}
			for i, prio := range []uint8{200, 7} {
				u := ietf.RequestUpdate{RequestID: uint64(2 + 2*i), Params: ietf.Params{{Type: ietf.ParamSubscriberPriority, Value: uint64(0xff - prio)}}}
				if _, err := str.Write(u.Append(nil, iv)); err != nil {
					t.Fatal(err)
				}
				typ, payload, err := r.ReadControl()
				if err != nil || typ != ietf.MsgRequestOK {
					t.Fatalf("reply to REQUEST_UPDATE %d: type 0x%x, %v; want REQUEST_OK", i, typ, err)
				}
				var ok ietf.RequestOK
				if err := ok.Parse(payload, iv); err != nil {
					t.Fatalf("REQUEST_OK: %v", err)
				}
				// The reply follows the update's application.
				if got := tw.Config().Priority; got != prio {
					t.Fatalf("after update %d the publisher sees priority %d, want %d", i, got, prio)
				}
			}
		})
	}
}
