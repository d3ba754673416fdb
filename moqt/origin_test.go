package moqt_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// TestConfigOriginID: a Server's and a Client's Config.OriginID are the
// hop IDs their announcements carry, and a publisher leaves out of what it
// announces the broadcasts whose hops hold the subscriber's ID (moq-lite
// 04 and 05; 03 carries a hop count only).
func TestConfigOriginID(t *testing.T) {
	const serverID, clientID = 41, 97
	for _, v := range moqt.LiteVersions() { // IETF sessions carry no hop IDs
		t.Run(v.String(), func(t *testing.T) {
			leakCheck(t)
			serverMux := moqt.NewTrackMux()
			serverMux.PublishFunc(context.Background(), "/a", func(tw *moqt.TrackWriter) { tw.Close() })
			sessions := make(chan *moqt.Session, 1)
			ts := startServer(t, acceptInto(serverMux, sessions), &moqt.Config{OriginID: serverID})
			c := newClient(t, v)
			c.Config.OriginID = clientID
			clientMux := moqt.NewTrackMux()
			clientMux.PublishFunc(context.Background(), "/b", func(tw *moqt.TrackWriter) { tw.Close() })
			sess, err := c.Dial(context.Background(), ts.url("quic", "/"), clientMux)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var srvSess *moqt.Session
			select {
			case srvSess = <-sessions:
			case <-ctx.Done():
				t.Fatal("no session accepted")
			}

			// The client's /b, seen by the server, carries the client's ID.
			sar, err := srvSess.AcceptAnnounce(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			b, err := sar.ReceiveAnnouncement(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if h := b.Hops(); len(h) != 1 || v != moqt.LiteDraft03 && h[0] != clientID {
				t.Errorf("hops of the client's broadcast: %v, want [%d]", h, clientID)
			}
			car, err := sess.AcceptAnnounce(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			a, err := car.ReceiveAnnouncement(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if h := a.Hops(); a.BroadcastPath() != "/a" || len(h) != 1 || v != moqt.LiteDraft03 && h[0] != serverID {
				t.Errorf("the server's broadcast: %s with hops %v, want /a with [%d]", a.BroadcastPath(), h, serverID)
			}
			// Published back to the client under another path, with those
			// hops, it is not announced to the client (04, 05); /z, after
			// it on the same stream, is.
			serverMux.Announce(b.WithPath("/b-again"), moqt.TrackHandlerFunc(func(tw *moqt.TrackWriter) { tw.Close() }))
			serverMux.PublishFunc(ctx, "/z", func(tw *moqt.TrackWriter) { tw.Close() })
			var got []moqt.BroadcastPath
			for !slices.Contains(got, "/z") {
				a, err := car.ReceiveAnnouncement(ctx)
				if err != nil {
					t.Fatalf("announcements so far %v: %v", got, err)
				}
				got = append(got, a.BroadcastPath())
			}
			t.Logf("announced after /a: %v", got)
			if v != moqt.LiteDraft03 && slices.Contains(got, "/b-again") {
				t.Errorf("the client was announced its own broadcast back: %v", got)
			}
		})
	}
}
