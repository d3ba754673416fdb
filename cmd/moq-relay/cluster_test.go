package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gomoq/gomoq/moqt"
	"github.com/gomoq/gomoq/relay"
)

// TestClusterConnect: a relay started with --cluster-connect to another
// (the dev http:// form, which pins the peer's generated certificate)
// and --cluster-id relays what is published on the other, and its
// announcements carry its cluster.id as its hop.
func TestClusterConnect(t *testing.T) {
	a := startRun(t, "--listen", "127.0.0.1:0")
	b := startRun(t, "--listen", "127.0.0.1:0", "--cluster-connect", "http://"+a.TCP.String()+"/", "--cluster-id", "77", "--internal-listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	mux := moqt.NewTrackMux()
	mux.PublishFunc(ctx, "/cam", func(tw *moqt.TrackWriter) {
		gw, err := tw.OpenGroup(ctx, 0)
		if err != nil {
			return
		}
		gw.WriteFrame(ctx, moqt.NewFrame([]byte("hello")))
		gw.Close()
		<-tw.Context().Done()
	})
	pub := &moqt.Client{}
	defer pub.Close()
	if _, err := pub.Dial(ctx, "http://"+a.TCP.String()+"/", mux); err != nil {
		t.Fatal(err)
	}
	sub := &moqt.Client{}
	defer sub.Close()
	sess, err := sub.Dial(ctx, "http://"+b.TCP.String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := sess.AcceptAnnounce(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	ann, err := ar.ReceiveAnnouncement(ctx)
	if err != nil {
		t.Fatalf("nothing announced on B: %v", err)
	}
	if ann.BroadcastPath() != "/cam" {
		t.Fatalf("B announced %s, want /cam", ann.BroadcastPath())
	}
	if sess.Version() != moqt.LiteDraft03 && !slices.Contains(ann.Hops(), 77) {
		t.Errorf("hops %v lack B's cluster.id 77", ann.Hops())
	}
	tr, err := sess.Subscribe(ctx, "/cam", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := tr.AcceptGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := gr.ReadFrame(); err != nil || string(f.Payload) != "hello" {
		t.Fatalf("frame %v, %v", f, err)
	}
	if log := b.log.String(); !strings.Contains(log, "relay: peer connected") || !strings.Contains(log, "id=77") {
		t.Errorf("B's log lacks the peer link or its cluster id:\n%s", log)
	}
	// The internal listener's /cluster shows the link and the route.
	rsp, err := http.Get("http://" + b.Internal.String() + "/cluster")
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var st relay.ClusterStatus
	if err := json.NewDecoder(rsp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.OriginID != 77 || len(st.Peers) != 1 || st.Peers[0].State != relay.PeerConnected || st.Peers[0].Upstreams != 1 ||
		len(st.Routes) != 1 || st.Routes[0].Path != "/cam" {
		t.Errorf("/cluster on B: %+v", st)
	}
}
