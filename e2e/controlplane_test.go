package e2e

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// The interop runner's namespace and track (TEST-CASES.md).
const (
	interopNamespace = "moq-test/interop"
	interopTrack     = "test-track"
)

// TestBrowserIETFControlPlane plays the six control-plane cases of the
// public MoQ interop runner (englishm/moq-interop-runner,
// docs/tests/TEST-CASES.md) with @moq/net as the client, pinned to each
// IETF draft (moqt-17 … moqt-20) over WebTransport, against the relay,
// with a Go client on the same draft as the other party where a case has
// two; TestIETFControlPlane (relay/ietf_test.go) plays them with a raw Go
// IETF client. Each browser session's root is /interop/<case>/<version>
// (/<role> when a case plays two role assignments), so the page uses the
// runner's namespace moq-test/interop and track test-track as they are,
// and the Go clients, on the relay's root, name the same broadcast under
// that prefix.
//
// Our SETUP declares MoQ Solicit, so @moq/net never sends
// PUBLISH_NAMESPACE to the relay: its namespace goes out as a NAMESPACE on
// the relay's SUBSCRIBE_NAMESPACE stream and is withdrawn with
// NAMESPACE_DONE there, which is what announce-only and
// publish-namespace-done exercise on the wire (the raw client of
// TestIETFControlPlane sends PUBLISH_NAMESPACE and closes its stream).
//
// The page cannot see what the Go side saw, so the Go side paces it: it
// announces a broadcast under <root>/ack/ that the page waits for before
// its next step (page.js publish's awaitAnnounced and
// awaitAnnouncedAfterClose).
func TestBrowserIETFControlPlane(t *testing.T) {
	requireBrowser(t)
	relay := startRelay(t)
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c *controlCase)
	}{
		{"setup-only", testSetupOnly},
		{"announce-only", testAnnounceOnly},
		{"publish-namespace-done", testPublishNamespaceDone},
		{"subscribe-error", testSubscribeError},
		{"announce-subscribe", testAnnounceSubscribe},
		{"subscribe-before-announce", testSubscribeBeforeAnnounce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range ietfVersions {
				t.Run(v.String(), func(t *testing.T) {
					tc.fn(t, &controlCase{scenario: newScenario(t, relay, v), base: "interop/" + tc.name + "/" + v.String()})
				})
			}
		})
	}
}

// controlCase is one case of TestBrowserIETFControlPlane on one draft.
type controlCase struct {
	*scenario
	base string // interop/<case>/<version>, the browser sessions' root (no leading slash)
}

// root is the root of the browser session playing role ("" in a case
// with one role assignment).
func (c *controlCase) root(role string) string {
	if role == "" {
		return c.base
	}
	return c.base + "/" + role
}

// pageOpts are page.js options for a browser session at root, on the
// case's draft over WebTransport.
func (c *controlCase) pageOpts(root string, extra map[string]any) map[string]any {
	o := map[string]any{"url": c.relay.httpURL("/" + root), "version": c.ws()}
	maps.Copy(o, extra)
	return o
}

// goPath is how a Go client on the relay's root names path of the browser
// session at root.
func goPath(root, path string) string { return "/" + root + "/" + path }

// goPeer is a Go client (package moqt, the case's draft) on the relay's
// root: the other party of a case, and the one that paces the page.
type goPeer struct {
	ctx  context.Context
	mux  *moqt.TrackMux
	sess *moqt.Session
}

func (c *controlCase) goPeer(ctx context.Context) *goPeer {
	mux := moqt.NewTrackMux()
	_, sess := c.dial(ctx, mux)
	return &goPeer{ctx: ctx, mux: mux, sess: sess}
}

// watch reads the announcements of exactly path.
func (p *goPeer) watch(t *testing.T, path string) *moqt.AnnouncementReader {
	t.Helper()
	ar, err := p.sess.AcceptAnnounce(context.Background(), moqt.BroadcastPath(path))
	if err != nil {
		t.Fatalf("Go client: AcceptAnnounce(%s): %v", path, err)
	}
	t.Cleanup(func() { ar.Close() })
	return ar
}

// ack announces a broadcast at path, with no track, for a page waiting for
// it (awaitAnnounced).
func (p *goPeer) ack(path string) {
	p.mux.PublishFunc(p.ctx, moqt.BroadcastPath(path), func(tw *moqt.TrackWriter) { tw.CloseWithError(moqt.NotFoundError) })
}

// pageEnd is what this test reads of a page.js result beyond the shared
// result types: a publisher's events (with the acks it waited for), a
// consumer's early subscriptions (subscribeFirst), and how the connection
// closed (waitClosed).
type pageEnd struct {
	CloseWait string `json:"closeWait"`
	Connect   *struct {
		Closed *struct {
			Error *string `json:"error"`
		} `json:"closed"`
		Transports []struct {
			Closed *struct {
				CloseCode *int    `json:"closeCode"`
				Reason    string  `json:"reason"`
				Error     *string `json:"error"`
			} `json:"closed"`
		} `json:"transports"`
	} `json:"connect"`
	Events []struct {
		Event string `json:"event"`
		Path  string `json:"path"`
	} `json:"events"`
	Early map[string]string `json:"early"`
}

// steps lists a publisher's events from the page's acks and broadcast
// close on, in order ("ack announced <path>", "broadcast closed", …).
func (e *pageEnd) steps() []string {
	var out []string
	for _, ev := range e.Events {
		switch ev.Event {
		case "ack announced", "no ack":
			out = append(out, ev.Event+" "+ev.Path)
		case "broadcast closed", "connection closed":
			out = append(out, ev.Event)
		}
	}
	return out
}

// checkClosed asserts that the page closed its connection and saw it
// closed: @moq/net's closed settled without an error, and the WebTransport
// session closed with code 0.
func checkClosed(t *testing.T, who string, e *pageEnd) {
	t.Helper()
	if e.CloseWait != "closed" {
		t.Errorf("%s: waiting for the connection to close: %q, want \"closed\"", who, e.CloseWait)
	}
	if e.Connect == nil || e.Connect.Closed == nil || e.Connect.Closed.Error != nil || len(e.Connect.Transports) == 0 {
		t.Errorf("%s: connection closed %s, want closed without an error", who, mustJSON(e.Connect))
		return
	}
	wt := e.Connect.Transports[len(e.Connect.Transports)-1].Closed
	if wt == nil || wt.Error != nil || wt.CloseCode == nil || *wt.CloseCode != 0 {
		t.Errorf("%s: WebTransport session closed %s, want code 0", who, mustJSON(wt))
	}
}

// checkSessionEnd waits for the relay's line that the browser session at
// root (the only session there) ended, and asserts that the browser
// closed it, without an error.
func (c *controlCase) checkSessionEnd(ctx context.Context, t *testing.T, root string) {
	t.Helper()
	line, err := c.relay.log.waitLine(ctx, c.mark, func(l string) bool {
		return strings.Contains(l, `msg="relay: session ended"`) && strings.Contains(l, " path=/"+root+" ")
	})
	if err != nil {
		t.Errorf("relay: no session-end line for the browser session at /%s: %v", root, err)
		return
	}
	if !strings.Contains(line, " version="+c.ws()+" ") || !strings.Contains(line, `reason="moqt: session terminated (remote): no error`) {
		t.Errorf("relay: the browser session at /%s ended as %s; want version=%s, reason \"moqt: session terminated (remote): no error\"", root, line, c.ws())
		return
	}
	t.Logf("relay: %s", line)
}

// isRefusal reports whether a page's track end is @moq/net's rejection of
// a SUBSCRIBE answered with REQUEST_ERROR DOES_NOT_EXIST (0x10): nothing
// else produces it (the page's own deadline reads "timeout", @moq/net's
// "subscribe timed out …").
func isRefusal(end string) bool {
	return strings.HasPrefix(end, "error: ") && strings.Contains(end, "SUBSCRIBE error: code=16 ")
}

// setup-only: the page connects (@moq/net's connection is established
// only once both SETUPs are exchanged, on the version the WT-Protocol
// answer pinned) and closes the connection; it sees the close complete,
// and the relay logs the session's end as the browser's close, with no
// error.
func testSetupOnly(t *testing.T, c *controlCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := c.root("")
	run := c.browser(job{ID: "conn", Fn: "connect", Opts: c.pageOpts(root, map[string]any{"waitClosed": true})})
	run.wait(t, 60*time.Second)

	var r struct {
		OK      bool         `json:"ok"`
		Connect *connectInfo `json:"connect"`
		Errors  []jsError    `json:"errors"`
	}
	run.result(t, "conn", &r)
	checkConnect(t, "browser", r.Connect, c.version)
	if !r.OK || len(r.Errors) > 0 {
		t.Errorf("browser: ok=%v errors=%v", r.OK, r.Errors)
	}
	var end pageEnd
	run.result(t, "conn", &end)
	checkClosed(t, "browser", &end)
	c.checkSessionEnd(ctx, t, root)
}

// announce-only: the page publishes moq-test/interop; the relay accepts
// it: a Go client's AcceptAnnounce sees it announced and GET /announced
// lists it (and nothing else under the root). The page then closes its
// broadcast and its connection, cleanly.
func testAnnounceOnly(t *testing.T, c *controlCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := c.root("")
	path := goPath(root, interopNamespace)
	peer := c.goPeer(ctx)
	ar := peer.watch(t, path)
	run := c.browser(job{ID: "pub", Fn: "publish", Opts: c.pageOpts(root, map[string]any{
		"broadcast":      interopNamespace,
		"tracks":         []trackSpec{},
		"awaitAnnounced": "ack/announced",
		"lingerMs":       0,
		"waitClosed":     true,
	})})

	ann := receiveAnnouncement(ctx, t, "Go client", ar, path)
	if listed, err := c.relay.announced(root); err != nil || !slices.Equal(listed, []string{root + "/" + interopNamespace}) {
		t.Errorf("relay /announced/%s: %v (err %v), want [%s/%s]", root, listed, err, root, interopNamespace)
	}
	peer.ack(goPath(root, "ack/announced"))
	run.wait(t, 60*time.Second)
	// The browser left: the announcement ends with it.
	waitDone(t, "Go client", ann, 15*time.Second)

	var pub publishResult
	run.result(t, "pub", &pub)
	checkPublished(t, "browser publisher", &pub, c.version)
	var end pageEnd
	run.result(t, "pub", &end)
	if want := []string{"ack announced ack/announced", "broadcast closed", "connection closed"}; !slices.Equal(end.steps(), want) {
		t.Errorf("browser publisher: steps %q, want %q", end.steps(), want)
	}
	checkClosed(t, "browser publisher", &end)
	c.checkSessionEnd(ctx, t, root)
}

// publish-namespace-done: the page publishes moq-test/interop; once a Go
// client saw it announced, the page closes the broadcast and keeps its
// connection; the Go client sees the announcement end, and the relay no
// longer lists it. Only then does the Go client announce ack/ended, which
// the page sees on that same connection (so the end came from the
// withdrawal, not from the session's end, and the connection still works)
// before it closes it, cleanly.
func testPublishNamespaceDone(t *testing.T, c *controlCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := c.root("")
	path := goPath(root, interopNamespace)
	peer := c.goPeer(ctx)
	ar := peer.watch(t, path)
	run := c.browser(job{ID: "pub", Fn: "publish", Opts: c.pageOpts(root, map[string]any{
		"broadcast":                interopNamespace,
		"tracks":                   []trackSpec{},
		"awaitAnnounced":           "ack/announced",
		"awaitAnnouncedAfterClose": "ack/ended",
		"waitClosed":               true,
	})})

	ann := receiveAnnouncement(ctx, t, "Go client", ar, path)
	peer.ack(goPath(root, "ack/announced"))
	select {
	case <-ann.Done():
	case <-ctx.Done():
		t.Fatalf("Go client: the announcement of %s did not end after the browser closed its broadcast", path)
	}
	if listed, err := c.relay.announced(root + "/" + interopNamespace); err != nil || len(listed) != 0 {
		t.Errorf("relay /announced/%s/%s: %v (err %v) after the withdrawal, want nothing", root, interopNamespace, listed, err)
	}
	peer.ack(goPath(root, "ack/ended"))
	run.wait(t, 60*time.Second)

	var pub publishResult
	run.result(t, "pub", &pub)
	checkPublished(t, "browser publisher", &pub, c.version)
	var end pageEnd
	run.result(t, "pub", &end)
	if want := []string{"ack announced ack/announced", "broadcast closed", "ack announced ack/ended", "connection closed"}; !slices.Equal(end.steps(), want) {
		t.Errorf("browser publisher: steps %q, want %q", end.steps(), want)
	}
	checkClosed(t, "browser publisher", &end)
	c.checkSessionEnd(ctx, t, root)
}

// subscribe-error: the page subscribes to test-track of
// nonexistent/namespace; the relay answers REQUEST_ERROR DOES_NOT_EXIST,
// which @moq/net reports as the track's error (see isRefusal), and no
// frame arrives.
func testSubscribeError(t *testing.T, c *controlCase) {
	root := c.root("")
	run := c.browser(job{ID: "sub", Fn: "consume", Opts: c.pageOpts(root, map[string]any{
		"broadcast": "nonexistent/namespace",
		"tracks":    []string{interopTrack},
		"timeoutMs": 20000,
	})})
	run.wait(t, 60*time.Second)

	var sub consumeResult
	run.result(t, "sub", &sub)
	checkConnect(t, "browser subscriber", sub.Connect, c.version)
	if !sub.OK || len(sub.Errors) > 0 {
		t.Errorf("browser subscriber: ok=%v errors=%v", sub.OK, sub.Errors)
	}
	if end := sub.TrackEnds[interopTrack]; !isRefusal(end) {
		t.Errorf("browser subscriber: track %s ended with %q, want the SUBSCRIBE refused with code=16 (DOES_NOT_EXIST)", interopTrack, end)
	}
	if len(sub.Frames) > 0 || len(sub.GroupErrors) > 0 {
		t.Errorf("browser subscriber: %d frames, group errors %s; want none", len(sub.Frames), sub.GroupErrors)
	}
}

// announce-subscribe, both ways at once:
//   - the page publishes moq-test/interop; a Go client that saw it
//     announced subscribes to test-track, gets SUBSCRIBE_OK (Subscribe
//     returns a track) and every frame the page wrote, each group once
//     with its frames in order, then the track's end;
//   - a Go client publishes it; the page discovers it, subscribes and gets
//     every frame, each group once with its frames in order, then the
//     track's end. (Groups are separate streams, which a subscriber that
//     asked for no order may read interleaved, so the order across groups
//     is not asserted.)
func testAnnounceSubscribe(t *testing.T, c *controlCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := trackSpec{Name: interopTrack, Groups: 3, FramesPerGroup: 4, FrameInterval: 20}
	pubRoot := c.root("browser-publishes")
	subRoot := c.root("go-publishes")
	peer := c.goPeer(ctx)
	ar := peer.watch(t, goPath(pubRoot, interopNamespace))
	goPub := c.publish(ctx, goPath(subRoot, interopNamespace), []trackSpec{spec}, 0, nil)
	run := c.browser(
		job{ID: "pub", Fn: "publish", Opts: c.pageOpts(pubRoot, map[string]any{
			"broadcast":         interopNamespace,
			"tracks":            []trackSpec{spec},
			"waitForSubscriber": true,
			"awaitAnnounced":    "ack/received",
			"lingerMs":          0,
			"waitClosed":        true,
		})},
		job{ID: "sub", Fn: "consume", Opts: c.pageOpts(subRoot, map[string]any{
			"broadcast": interopNamespace,
			"tracks":    []string{interopTrack},
			"discover":  true,
			"timeoutMs": 25000,
		})},
	)

	ann := receiveAnnouncement(ctx, t, "Go subscriber", ar, goPath(pubRoot, interopNamespace))
	s := c.subscribe(ctx, peer.sess, ann.BroadcastPath(), interopTrack, nil)
	s.wait(t, "Go subscriber", 30*time.Second)
	peer.ack(goPath(pubRoot, "ack/received"))
	if err := goPub.waitWritten(ctx); err != nil {
		t.Error(err)
	}
	run.wait(t, 60*time.Second)
	goPub.end()
	for _, e := range goPub.errors() {
		t.Errorf("Go publisher: %s", e)
	}

	checkFrames(t, "Go subscriber", s.frames, spec, seqs(0, spec.Groups), true)
	var pub publishResult
	run.result(t, "pub", &pub)
	checkPublished(t, "browser publisher", &pub, c.version, spec)

	var sub consumeResult
	run.result(t, "sub", &sub)
	checkConsume(t, "browser subscriber", &sub, c.version, interopTrack)
	checkAnnouncements(t, "browser subscriber", sub.Announcements, interopNamespace, false)
	frames := browserFrames(t, "browser subscriber", sub.Frames, true)
	checkFrames(t, "browser subscriber", frames, spec, seqs(0, spec.Groups), true)
}

// subscribe-before-announce, both role assignments at once:
//   - a Go client subscribes to test-track of moq-test/interop before
//     anything is announced, and is refused at once (NotFoundError: the
//     relay answers REQUEST_ERROR DOES_NOT_EXIST, one of the two outcomes
//     the runner accepts); the page then publishes it, the Go client sees
//     it announced, subscribes again and gets every frame, each group once
//     with its frames in order;
//   - the page subscribes first and is refused (see isRefusal, no group);
//     only then does a Go client publish it; the page sees it announced,
//     subscribes again and gets every frame, each group once with its
//     frames in order.
func testSubscribeBeforeAnnounce(t *testing.T, c *controlCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := trackSpec{Name: interopTrack, Groups: 3, FramesPerGroup: 4, FrameInterval: 20}
	jsSubRoot := c.root("browser-subscribes-first")
	goSubRoot := c.root("go-subscribes-first")
	peer := c.goPeer(ctx)

	goPathEarly := goPath(goSubRoot, interopNamespace)
	_, err := peer.sess.Subscribe(ctx, moqt.BroadcastPath(goPathEarly), interopTrack, nil)
	var se *moqt.SubscribeError
	if !errors.As(err, &se) || se.Code != moqt.NotFoundError {
		t.Fatalf("Go subscriber: Subscribe(%s, %s) before the announce: %v, want a NotFoundError refusal", goPathEarly, interopTrack, err)
	}
	ar := peer.watch(t, goPathEarly)
	run := c.browser(
		job{ID: "sub", Fn: "consume", Opts: c.pageOpts(jsSubRoot, map[string]any{
			"broadcast":      interopNamespace,
			"tracks":         []string{interopTrack},
			"subscribeFirst": true,
			"discover":       true,
			"timeoutMs":      25000,
		})},
		job{ID: "pub", Fn: "publish", Opts: c.pageOpts(goSubRoot, map[string]any{
			"broadcast":         interopNamespace,
			"tracks":            []trackSpec{spec},
			"waitForSubscriber": true,
			"awaitAnnounced":    "ack/received",
			"lingerMs":          0,
			"waitClosed":        true,
		})},
	)

	// The Go publisher announces only once the page's early subscribe ended.
	if err := run.waitLine(ctx, "[sub] info: consume "+interopNamespace+": early subscribe done"); err != nil {
		t.Fatalf("browser subscriber: %v", err)
	}
	goPub := c.publish(ctx, goPath(jsSubRoot, interopNamespace), []trackSpec{spec}, 0, nil)

	ann := receiveAnnouncement(ctx, t, "Go subscriber", ar, goPathEarly)
	s := c.subscribe(ctx, peer.sess, ann.BroadcastPath(), interopTrack, nil)
	s.wait(t, "Go subscriber", 30*time.Second)
	peer.ack(goPath(goSubRoot, "ack/received"))
	if err := goPub.waitWritten(ctx); err != nil {
		t.Error(err)
	}
	run.wait(t, 60*time.Second)
	goPub.end()
	for _, e := range goPub.errors() {
		t.Errorf("Go publisher: %s", e)
	}

	checkFrames(t, "Go subscriber", s.frames, spec, seqs(0, spec.Groups), true)
	var pub publishResult
	run.result(t, "pub", &pub)
	checkPublished(t, "browser publisher", &pub, c.version, spec)

	var sub consumeResult
	run.result(t, "sub", &sub)
	var early pageEnd
	run.result(t, "sub", &early)
	if end := early.Early[interopTrack]; !isRefusal(end) {
		t.Errorf("browser subscriber: the subscribe before the announce ended with %q, want it refused with code=16 (DOES_NOT_EXIST)", end)
	}
	checkConsume(t, "browser subscriber", &sub, c.version, interopTrack)
	checkAnnouncements(t, "browser subscriber", sub.Announcements, interopNamespace, false)
	frames := browserFrames(t, "browser subscriber", sub.Frames, true)
	checkFrames(t, "browser subscriber", frames, spec, seqs(0, spec.Groups), true)
}
