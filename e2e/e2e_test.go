// Package e2e is gomoq's browser interop suite: the real @moq/net client
// (pinned in package-lock.json) in headless Chromium, driven by run.mjs,
// against the moq-relay binary over real WebTransport, for each of
// moq-lite-03, -04 and -05 and IETF MoQ Transport drafts 17 to 20
// (moqt-17 … moqt-20), alongside Go clients (package moqt).
//
//	go test -count=1 -v ./e2e/
//
// It needs Chromium (/usr/bin/chromium, or $GOMOQ_E2E_CHROMIUM) and
// e2e/node_modules (npm ci); .ci/run installs both. Without them the tests
// fail; -short skips them.
package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

var versions = []moqt.Version{moqt.LiteDraft03, moqt.LiteDraft04, moqt.LiteDraft05}

// ietfVersions are the IETF MoQ Transport drafts @moq/net speaks.
var ietfVersions = []moqt.Version{moqt.IETFDraft17, moqt.IETFDraft18, moqt.IETFDraft19, moqt.IETFDraft20}

// TestBrowserInterop runs every scenario once per version against one relay;
// each scenario uses its own broadcast paths (scenario and version in them).
func TestBrowserInterop(t *testing.T) { runScenarios(t, "") }

// TestBrowserIETF runs the same scenarios with the browser (and the Go
// clients) pinned to each IETF MoQ Transport draft, moqt-17 … moqt-20, over
// WebTransport.
func TestBrowserIETF(t *testing.T) { runScenariosFor(t, "", ietfVersions) }

// TestBrowserWebSocket runs the same scenarios with the browser on QMux over
// WebSocket (what Safari, iOS and UDP-blocked users get), offering only the
// scenario's version over every QMux draft; the Go clients stay on
// WebTransport, so every scenario also mixes transports.
func TestBrowserWebSocket(t *testing.T) { runScenarios(t, "websocket") }

// TestBrowserWebSocketIETF: the browser on QMux over WebSocket pinned to
// each IETF draft (qmux-0N.moqt-17 … moqt-20, every QMux draft offered),
// publishing, subscribing and joining mid-stream, with the Go clients on
// the same draft over WebTransport. (@moq/net's own WebSocket offer leaves
// out moqt-19; the page offers it explicitly.)
func TestBrowserWebSocketIETF(t *testing.T) {
	runScenariosFor(t, "websocket", ietfVersions, "browser-publishes", "go-publishes", "mid-stream")
}

// TestBrowserIETFCrossFamily bridges the families through the relay: the
// browser on each IETF draft, the Go clients on moq-lite-05, both ways
// (browser publishes, Go publishes, and a late join mid-stream).
func TestBrowserIETFCrossFamily(t *testing.T) {
	requireBrowser(t)
	relay := startRelay(t)
	for _, s := range []struct {
		name string
		fn   func(t *testing.T, sc *scenario)
	}{
		{"browser-publishes", testBrowserPublishes},
		{"go-publishes", testGoPublishes},
		{"mid-stream", testMidStream},
	} {
		t.Run(s.name, func(t *testing.T) {
			for _, v := range ietfVersions {
				t.Run(v.String()+"-with-"+moqt.LiteDraft05.String(), func(t *testing.T) {
					sc := newScenario(t, relay, v)
					sc.goVersion = moqt.LiteDraft05
					s.fn(t, sc)
				})
			}
		})
	}
}

func runScenarios(t *testing.T, transport string) { runScenariosFor(t, transport, versions) }

// runScenariosFor runs the named scenarios (all when only is empty) once
// per version.
func runScenariosFor(t *testing.T, transport string, versions []moqt.Version, only ...string) {
	requireBrowser(t)
	relay := startRelay(t)
	scenarios := []struct {
		name string
		fn   func(t *testing.T, sc *scenario)
	}{
		{"browser-publishes", testBrowserPublishes},
		{"go-publishes", testGoPublishes},
		{"browser-to-browser", testBrowserToBrowser},
		{"broadcast-ends", testBroadcastEnds},
		{"mid-stream", testMidStream},
	}
	for _, s := range scenarios {
		if len(only) > 0 && !slices.Contains(only, s.name) {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			for _, v := range versions {
				t.Run(v.String(), func(t *testing.T) {
					sc := newScenario(t, relay, v)
					sc.transport = transport
					s.fn(t, sc)
				})
			}
		})
	}
}

func (sc *scenario) url() string { return sc.relay.httpURL("/") }

// timestamped reports whether frame timestamps travel on the wire:
// moq-lite-05, and IETF (a Timestamp object property in the track's
// TIMESCALE, both ways with @moq/net).
func (sc *scenario) timestamped() bool {
	return sc.version >= moqt.LiteDraft05 || sc.version.IsIETF()
}

// publishOpts are page.js publish options.
func (sc *scenario) publishOpts(broadcast string, tracks []trackSpec, extra map[string]any) map[string]any {
	o := map[string]any{
		"url":               sc.url(),
		"version":           sc.ws(),
		"transport":         sc.transport,
		"broadcast":         broadcast,
		"tracks":            tracks,
		"waitForSubscriber": true,
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// consumeOpts are page.js consume options (discovering the broadcast first).
func (sc *scenario) consumeOpts(broadcast string, tracks []string, extra map[string]any) map[string]any {
	o := map[string]any{
		"url":       sc.url(),
		"version":   sc.ws(),
		"transport": sc.transport,
		"broadcast": broadcast,
		"tracks":    tracks,
		"discover":  true,
		"timeoutMs": 25000,
	}
	if sc.transport != "" && sc.version < moqt.LiteDraft05 {
		// The track end never reaches the browser (see legacyEndBlind):
		// the consumer gives up waiting for it sooner.
		o["timeoutMs"] = 8000
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// checkPublished asserts a browser publisher's result: pinned version, no
// errors, and everything in specs written.
func checkPublished(t *testing.T, who string, r *publishResult, version moqt.Version, specs ...trackSpec) {
	t.Helper()
	checkConnect(t, who, r.Connect, version)
	if !r.OK || len(r.Errors) > 0 {
		t.Errorf("%s: ok=%v errors=%v", who, r.OK, r.Errors)
	}
	want := 0
	for _, s := range specs {
		want += s.Groups * s.FramesPerGroup
	}
	if len(r.Written) != want {
		t.Errorf("%s: wrote %d frames, want %d", who, len(r.Written), want)
	}
	for _, w := range r.Written {
		if w.Payload != payloadOf(w.Track, int(w.Group), w.FrameIndexInGroup) || w.Timestamp != timestampOf(int(w.Group), w.FrameIndexInGroup) {
			t.Errorf("%s: wrote %+v, which breaks the payload/timestamp scheme the test expects", who, w)
			break
		}
	}
}

// subscribed is a Go subscription being read in the background.
type subscribed struct {
	tr     *moqt.TrackReader
	done   chan struct{}
	frames []gotFrame
	order  []uint64
	err    error
}

func (sc *scenario) subscribe(ctx context.Context, sess *moqt.Session, path moqt.BroadcastPath, track string, onFrame func(gotFrame)) *subscribed {
	sc.t.Helper()
	tr, err := sess.Subscribe(context.Background(), path, moqt.TrackName(track), nil)
	if err != nil {
		sc.t.Fatalf("Go subscriber: Subscribe(%s, %s): %v", path, track, err)
	}
	s := &subscribed{tr: tr, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.frames, s.order, s.err = readTrack(ctx, tr, onFrame)
	}()
	return s
}

// wait waits for the track's end and asserts it finished cleanly.
func (s *subscribed) wait(t *testing.T, who string, timeout time.Duration) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.tr.Close()
		<-s.done
		t.Errorf("%s: track %s did not finish within %v (groups so far %v)", who, s.tr.TrackName(), timeout, s.order)
		return
	}
	if s.err != nil {
		t.Errorf("%s: track %s ended with %v, want a clean finish (io.EOF)", who, s.tr.TrackName(), s.err)
	}
}

// checkInfo asserts the TRACK_INFO timescale a Go subscriber got on 05.
func checkInfo(t *testing.T, who string, s *subscribed, version moqt.Version) {
	t.Helper()
	if version >= moqt.LiteDraft05 {
		if ts := s.tr.Info().Timescale; ts != 1_000_000 {
			t.Errorf("%s: track %s has timescale %d, want 1000000", who, s.tr.TrackName(), ts)
		}
	}
}

// receiveAnnouncement waits for the announcement of path on ar.
func receiveAnnouncement(ctx context.Context, t *testing.T, who string, ar *moqt.AnnouncementReader, path string) *moqt.Announcement {
	t.Helper()
	for {
		a, err := ar.ReceiveAnnouncement(ctx)
		if err != nil {
			t.Fatalf("%s: waiting for the announcement of %s under %s: %v", who, path, ar.Prefix(), err)
		}
		if a.BroadcastPath().String() == path {
			return a
		}
		t.Errorf("%s: unexpected announcement %s under %s", who, a.BroadcastPath(), ar.Prefix())
	}
}

func waitDone(t *testing.T, who string, a *moqt.Announcement, timeout time.Duration) {
	t.Helper()
	select {
	case <-a.Done():
	case <-time.After(timeout):
		t.Errorf("%s: the announcement of %s did not end within %v", who, a.BroadcastPath(), timeout)
	}
}

// 1. The browser publishes a broadcast with two tracks; a Go client discovers
// it by prefix and subscribes to both.
func testBrowserPublishes(t *testing.T, sc *scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prefix := "e2e/browser-publishes/" + sc.ws()
	bpath := prefix + "/bcast"
	video := trackSpec{Name: "video", Groups: 3, FramesPerGroup: 4, FrameInterval: 30}
	audio := trackSpec{Name: "audio", Groups: 4, FramesPerGroup: 3, FrameInterval: 25}

	run := sc.browser(job{ID: "pub", Fn: "publish", Opts: sc.publishOpts(bpath, []trackSpec{video, audio}, map[string]any{"holdMs": 200})})

	_, sess := sc.dial(ctx, nil)
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
	waitDone(t, "Go subscriber", ann, 15*time.Second)

	run.wait(t, 60*time.Second)
	var pub publishResult
	run.result(t, "pub", &pub)
	checkPublished(t, "browser publisher", &pub, sc.version, video, audio)

	ts := sc.timestamped()
	checkFrames(t, "Go subscriber", v.frames, video, seqs(0, video.Groups), ts)
	checkFrames(t, "Go subscriber", a.frames, audio, seqs(0, audio.Groups), ts)
	checkInfo(t, "Go subscriber", v, sc.goV())
	checkInfo(t, "Go subscriber", a, sc.goV())
}

// 2. A Go publisher's broadcast is discovered (announced) and consumed by the
// browser.
func testGoPublishes(t *testing.T, sc *scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prefix := "e2e/go-publishes/" + sc.ws()
	bpath := prefix + "/bcast"
	video := trackSpec{Name: "video", Groups: 3, FramesPerGroup: 4, FrameInterval: 30}
	audio := trackSpec{Name: "audio", Groups: 4, FramesPerGroup: 3, FrameInterval: 25}

	// Each subscription starts writing 150 ms after it arrives, as the
	// browser subscriber's TRACK and SUBSCRIBE reach the relay one after the
	// other; a relay subscriber starts at the latest group.
	pub := sc.publish(ctx, "/"+bpath, []trackSpec{video, audio}, 150*time.Millisecond, nil)
	run := sc.browser(
		job{ID: "sub", Fn: "consume", Opts: sc.consumeOpts(bpath, []string{"video", "audio"}, map[string]any{"waitForUnannounceMs": 10000})},
		job{ID: "ann", Fn: "announced", Opts: map[string]any{"url": sc.url(), "version": sc.ws(), "transport": sc.transport, "prefix": prefix, "count": 2, "timeoutMs": 25000}},
	)
	if err := pub.waitWritten(ctx); err != nil {
		t.Error(err)
	}
	// The publisher ends the broadcast a moment after its tracks finished.
	time.Sleep(500 * time.Millisecond)
	pub.end()
	run.wait(t, 60*time.Second)
	for _, e := range pub.errors() {
		t.Errorf("Go publisher: %s", e)
	}

	var sub consumeResult
	run.result(t, "sub", &sub)
	checkConsume(t, "browser subscriber", &sub, sc.version, "video", "audio")
	checkAnnouncements(t, "browser subscriber", sub.Announcements, bpath, true)
	onWire := sc.timestamped()
	frames := browserFrames(t, "browser subscriber", sub.Frames, onWire)
	checkFrames(t, "browser subscriber", frames, video, seqs(0, video.Groups), onWire)
	checkFrames(t, "browser subscriber", frames, audio, seqs(0, audio.Groups), onWire)

	var ann announcedResult
	run.result(t, "ann", &ann)
	checkConnect(t, "browser announced", ann.Connect, sc.version)
	if !ann.OK || ann.Ended != "count" || len(ann.Events) != 2 ||
		ann.Events[0].Path != "bcast" || !ann.Events[0].Active || ann.Events[0].Full != bpath ||
		ann.Events[1].Path != "bcast" || ann.Events[1].Active {
		t.Errorf("browser announced(%s): ok=%v ended=%q events=%s errors=%v; want bcast active, then bcast ended", prefix, ann.OK, ann.Ended, mustJSON(ann.Events), ann.Errors)
	}
}

// 3. Browser A publishes, browser B consumes, through the relay.
func testBrowserToBrowser(t *testing.T, sc *scenario) {
	bpath := "e2e/browser-to-browser/" + sc.ws() + "/bcast"
	video := trackSpec{Name: "video", Groups: 3, FramesPerGroup: 4, FrameInterval: 30}
	audio := trackSpec{Name: "audio", Groups: 4, FramesPerGroup: 3, FrameInterval: 25}
	run := sc.browser(
		job{ID: "pub", Fn: "publish", Opts: sc.publishOpts(bpath, []trackSpec{video, audio}, map[string]any{"holdMs": 200})},
		job{ID: "sub", Fn: "consume", Opts: sc.consumeOpts(bpath, []string{"video", "audio"}, map[string]any{"waitForUnannounceMs": 10000})},
	)
	run.wait(t, 60*time.Second)
	var pub publishResult
	run.result(t, "pub", &pub)
	checkPublished(t, "browser A (publisher)", &pub, sc.version, video, audio)
	var sub consumeResult
	run.result(t, "sub", &sub)
	checkConsume(t, "browser B (subscriber)", &sub, sc.version, "video", "audio")
	checkAnnouncements(t, "browser B (subscriber)", sub.Announcements, bpath, true)
	onWire := sc.timestamped()
	frames := browserFrames(t, "browser B (subscriber)", sub.Frames, onWire)
	checkFrames(t, "browser B (subscriber)", frames, video, seqs(0, video.Groups), onWire)
	checkFrames(t, "browser B (subscriber)", frames, audio, seqs(0, audio.Groups), onWire)
}

// 4. The broadcast ends (publisher closes): the other side sees the
// announcement end and the track finish, with no error in the browser
// console. Both directions at once: a Go publisher that ends its broadcast
// as soon as its track is written and shuts its client down, watched by a
// browser; a browser publisher that closes its track, its broadcast and its
// connection, watched by a Go client.
func testBroadcastEnds(t *testing.T, sc *scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := "e2e/broadcast-ends/" + sc.ws()
	goPath := base + "/go"
	jsPath := base + "/browser"
	spec := trackSpec{Name: "video", Groups: 3, FramesPerGroup: 3, FrameInterval: 30}

	pub := sc.publish(ctx, "/"+goPath, []trackSpec{spec}, 150*time.Millisecond, nil)
	run := sc.browser(
		job{ID: "sub", Fn: "consume", Opts: sc.consumeOpts(goPath, []string{"video"}, map[string]any{"waitForUnannounceMs": 10000})},
		job{ID: "pub", Fn: "publish", Opts: sc.publishOpts(jsPath, []trackSpec{spec}, nil)},
	)

	// Go watches the browser's broadcast.
	_, sess := sc.dial(ctx, nil)
	ar, err := sess.AcceptAnnounce(context.Background(), moqt.BroadcastPath("/"+jsPath))
	if err != nil {
		t.Fatalf("Go subscriber: AcceptAnnounce: %v", err)
	}
	defer ar.Close()
	ann := receiveAnnouncement(ctx, t, "Go subscriber", ar, "/"+jsPath)
	s := sc.subscribe(ctx, sess, ann.BroadcastPath(), "video", nil)

	// The Go publisher ends its broadcast once its track is written, then
	// shuts down.
	if err := pub.waitWritten(ctx); err != nil {
		t.Error(err)
	}
	pub.end()
	sdCtx, sdCancel := context.WithTimeout(ctx, 10*time.Second)
	if err := pub.client.Shutdown(sdCtx); err != nil {
		t.Errorf("Go publisher: Shutdown: %v", err)
	}
	sdCancel()

	s.wait(t, "Go subscriber", 30*time.Second)
	waitDone(t, "Go subscriber", ann, 15*time.Second)
	run.wait(t, 60*time.Second)
	for _, e := range pub.errors() {
		t.Errorf("Go publisher: %s", e)
	}

	ts := sc.timestamped()
	checkFrames(t, "Go subscriber", s.frames, spec, seqs(0, spec.Groups), ts)
	var jsPub publishResult
	run.result(t, "pub", &jsPub)
	checkPublished(t, "browser publisher", &jsPub, sc.version, spec)

	var sub consumeResult
	run.result(t, "sub", &sub)
	checkConsume(t, "browser subscriber", &sub, sc.version, "video")
	checkAnnouncements(t, "browser subscriber", sub.Announcements, goPath, true)
	checkFrames(t, "browser subscriber", browserFrames(t, "browser subscriber", sub.Frames, ts), spec, seqs(0, spec.Groups), ts)
	if !slices.ContainsFunc(sub.Events, func(e struct {
		Event string `json:"event"`
	}) bool {
		return e.Event == "unannounced"
	}) {
		t.Errorf("browser subscriber: never saw the broadcast unannounced (events %s)", mustJSON(sub.Events))
	}

	for _, id := range []string{"sub", "pub"} {
		if p := run.consoleProblems(id); len(p) > 0 {
			t.Errorf("browser %s: console errors/warnings after the broadcast ended:\n  %s", id, strings.Join(p, "\n  "))
		}
	}
	// The relay no longer lists either broadcast.
	deadline := time.Now().Add(5 * time.Second)
	for {
		paths, err := sc.relay.announced(base)
		if err == nil && len(paths) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("relay /announced/%s still lists %v (err %v) after both broadcasts ended", base, paths, err)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// 5. A subscription that starts mid-stream receives the latest group from
// its first frame. Both ways at once:
//   - a Go publisher, held after frame 1 of group 2 until a late browser
//     subscriber got its first frame (so group 2 is, deterministically, the
//     latest group when the browser subscribes); an early Go subscriber
//     drives the upstream subscription;
//   - a browser publisher, with an early Go subscriber; a second Go client
//     subscribes once the early one got frame 1 of group 2 (the browser
//     writes every 120 ms, so group 3 starts 480 ms later).
//
// The late subscribers must get groups 2.. only, each from its first frame.
// The Go publisher's group 2 stays open while Chromium starts (2-4 s, longer
// than the relay's default 2 s MaxLatency, as a long GOP would); subscribers
// that keep up with it must still get it whole and finished (FIN), not reset.
func testMidStream(t *testing.T, sc *scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := "e2e/mid-stream/" + sc.ws()
	goPath := base + "/go"
	jsPath := base + "/browser"
	goSpec := trackSpec{Name: "video", Groups: 5, FramesPerGroup: 4, FrameInterval: 40}
	jsSpec := trackSpec{Name: "video", Groups: 5, FramesPerGroup: 5, FrameInterval: 120}
	const midGroup = 2
	ts := sc.timestamped()

	// The Go publisher, and an early Go subscriber to it.
	release := make(chan struct{})
	var releaseOnce sync.Once
	pub := sc.publish(ctx, "/"+goPath, []trackSpec{goSpec}, 0, func(_ string, g, f int) error {
		if g == midGroup && f == 1 {
			select {
			case <-release:
			case <-time.After(25 * time.Second):
				return errors.New("held mid-group 25s: the late browser subscriber never got a frame")
			}
		}
		return nil
	})
	_, early := sc.dial(ctx, nil)
	earlyAR, err := early.AcceptAnnounce(context.Background(), moqt.BroadcastPath("/"+goPath))
	if err != nil {
		t.Fatalf("early Go subscriber: AcceptAnnounce: %v", err)
	}
	defer earlyAR.Close()
	goAnn := receiveAnnouncement(ctx, t, "early Go subscriber", earlyAR, "/"+goPath)
	held := make(chan struct{})
	var heldOnce sync.Once
	goEarly := sc.subscribe(ctx, early, goAnn.BroadcastPath(), "video", func(f gotFrame) {
		if f.Group == midGroup && f.Index == 1 {
			heldOnce.Do(func() { close(held) })
		}
	})
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatalf("early Go subscriber: never got frame 1 of group %d (groups %v)", midGroup, goEarly.order)
	}

	// The browser side: a late subscriber to the held Go broadcast, and a
	// publisher.
	run := sc.browser(
		job{ID: "late", Fn: "consume", Opts: sc.consumeOpts(goPath, []string{"video"}, nil)},
		job{ID: "pub", Fn: "publish", Opts: sc.publishOpts(jsPath, []trackSpec{jsSpec}, nil)},
	)
	go func() {
		if err := run.waitLine(ctx, "consume "+goPath+": first frame"); err == nil {
			releaseOnce.Do(func() { close(release) })
		}
	}()

	// Go subscribers of the browser's broadcast: early, then late.
	_, sess := sc.dial(ctx, nil)
	ar, err := sess.AcceptAnnounce(context.Background(), moqt.BroadcastPath("/"+jsPath))
	if err != nil {
		t.Fatalf("Go subscriber: AcceptAnnounce: %v", err)
	}
	defer ar.Close()
	ann := receiveAnnouncement(ctx, t, "early Go subscriber", ar, "/"+jsPath)
	jsHeld := make(chan struct{})
	var jsHeldOnce sync.Once
	jsEarly := sc.subscribe(ctx, sess, ann.BroadcastPath(), "video", func(f gotFrame) {
		if f.Group == midGroup && f.Index == 1 {
			jsHeldOnce.Do(func() { close(jsHeld) })
		}
	})
	var jsLate *subscribed
	select {
	case <-jsHeld:
		_, late := sc.dial(ctx, nil)
		jsLate = sc.subscribe(ctx, late, ann.BroadcastPath(), "video", nil)
	case <-jsEarly.done:
		t.Errorf("early Go subscriber of the browser broadcast: track ended before frame 1 of group %d (groups %v, err %v)", midGroup, jsEarly.order, jsEarly.err)
	case <-ctx.Done():
		t.Errorf("early Go subscriber of the browser broadcast: no frame 1 of group %d", midGroup)
	}

	goEarly.wait(t, "early Go subscriber (Go broadcast)", 30*time.Second)
	jsEarly.wait(t, "early Go subscriber (browser broadcast)", 30*time.Second)
	if jsLate != nil {
		jsLate.wait(t, "late Go subscriber (browser broadcast)", 30*time.Second)
	}
	run.wait(t, 60*time.Second)
	pub.end()
	for _, e := range pub.errors() {
		t.Errorf("Go publisher: %s", e)
	}

	checkFrames(t, "early Go subscriber (Go broadcast)", goEarly.frames, goSpec, seqs(0, goSpec.Groups), ts)
	checkFrames(t, "early Go subscriber (browser broadcast)", jsEarly.frames, jsSpec, seqs(0, jsSpec.Groups), ts)
	if jsLate != nil {
		checkFrames(t, "late Go subscriber (browser broadcast)", jsLate.frames, jsSpec, seqs(midGroup, jsSpec.Groups), ts)
		if len(jsLate.order) == 0 || jsLate.order[0] != midGroup {
			t.Errorf("late Go subscriber (browser broadcast): groups arrived in order %v, want %d first", jsLate.order, midGroup)
		}
	}

	var jsPub publishResult
	run.result(t, "pub", &jsPub)
	checkPublished(t, "browser publisher", &jsPub, sc.version, jsSpec)

	var late consumeResult
	run.result(t, "late", &late)
	checkConsume(t, "late browser subscriber", &late, sc.version, "video")
	frames := browserFrames(t, "late browser subscriber", late.Frames, ts)
	checkFrames(t, "late browser subscriber", frames, goSpec, seqs(midGroup, goSpec.Groups), ts)
	if len(frames) > 0 && (frames[0].Group != midGroup || frames[0].Index != 0) {
		t.Errorf("late browser subscriber: first frame is %q, want %q", frames[0].Payload, payloadOf("video", midGroup, 0))
	}
}
