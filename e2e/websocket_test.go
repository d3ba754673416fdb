package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// TestBrowserWebSocketMixed: a browser that @moq/net itself sends to
// WebSocket (a Safari user agent: it never tries WebTransport there, and
// offers its own subprotocol list) publishes; a WebTransport browser and a
// native-QUIC Go client subscribe through the relay. The relay picks the
// newest pair @moq/net offers, qmux-02.moq-lite-05.
func TestBrowserWebSocketMixed(t *testing.T) {
	requireBrowser(t)
	relay := startRelay(t)
	sc := newScenario(t, relay, moqt.LiteDraft05)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prefix := "e2e/websocket-mixed"
	bpath := prefix + "/bcast"
	video := trackSpec{Name: "video", Groups: 3, FramesPerGroup: 4, FrameInterval: 30}
	audio := trackSpec{Name: "audio", Groups: 4, FramesPerGroup: 3, FrameInterval: 25}

	pubOpts := sc.publishOpts(bpath, []trackSpec{video, audio}, map[string]any{"holdMs": 200})
	pubOpts["transport"] = "safari"
	delete(pubOpts, "version") // @moq/net's own offer
	subOpts := sc.consumeOpts(bpath, []string{"video", "audio"}, map[string]any{"waitForUnannounceMs": 10000})
	subOpts["transport"] = "" // WebTransport
	run := sc.browser(
		job{ID: "pub", Fn: "publish", Opts: pubOpts},
		job{ID: "sub", Fn: "consume", Opts: subOpts},
	)

	native := fmt.Sprintf("moqt://127.0.0.1:%d/", relay.port)
	_, sess := sc.dialURL(ctx, native, &tls.Config{InsecureSkipVerify: true}, nil)
	ar, err := sess.AcceptAnnounce(context.Background(), moqt.BroadcastPath("/"+prefix))
	if err != nil {
		t.Fatalf("Go subscriber: AcceptAnnounce: %v", err)
	}
	defer ar.Close()
	ann := receiveAnnouncement(ctx, t, "Go subscriber", ar, "/"+bpath)
	v := sc.subscribe(ctx, sess, ann.BroadcastPath(), "video", nil)
	a := sc.subscribe(ctx, sess, ann.BroadcastPath(), "audio", nil)
	v.wait(t, "Go subscriber", 30*time.Second)
	a.wait(t, "Go subscriber", 30*time.Second)

	run.wait(t, 60*time.Second)
	var pub publishResult
	run.result(t, "pub", &pub)
	checkPublished(t, "browser publisher (Safari user agent)", &pub, moqt.LiteDraft05, video, audio)
	if pub.Connect != nil && (pub.Connect.Subprotocol == nil || *pub.Connect.Subprotocol != "qmux-02.moq-lite-05") {
		t.Errorf("browser publisher: subprotocol %v, want qmux-02.moq-lite-05 (offered %v)", deref(pub.Connect.Subprotocol), pub.Connect.Offered)
	}
	var sub consumeResult
	run.result(t, "sub", &sub)
	checkConsume(t, "browser subscriber (WebTransport)", &sub, moqt.LiteDraft05, "video", "audio")
	// The browser subscriber may join after the publisher started for the
	// Go one: from its first group on, it gets every group, whole.
	frames := browserFrames(t, "browser subscriber", sub.Frames, true)
	checkFrames(t, "browser subscriber", frames, video, seqs(firstGroup(frames, "video"), video.Groups), true)
	checkFrames(t, "browser subscriber", frames, audio, seqs(firstGroup(frames, "audio"), audio.Groups), true)
	checkFrames(t, "Go subscriber (native QUIC)", v.frames, video, seqs(0, video.Groups), true)
	checkFrames(t, "Go subscriber (native QUIC)", a.frames, audio, seqs(0, audio.Groups), true)
}

// firstGroup is the lowest group of track among frames (0 if none).
func firstGroup(frames []gotFrame, track string) int {
	first := -1
	for _, f := range frames {
		if f.Track == track && (first < 0 || int(f.Group) < first) {
			first = int(f.Group)
		}
	}
	return max(first, 0)
}
