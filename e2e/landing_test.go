package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomoq/gomoq/moqt"
)

// landingDOM is what landing.mjs reads off the page.
type landingDOM struct {
	Title      string   `json:"title"`
	Heading    string   `json:"heading"`
	URL        string   `json:"url"`
	Hash       string   `json:"hash"`
	Broadcasts []string `json:"broadcasts"`
	Chosen     string   `json:"chosen"`
	Status     string   `json:"status"`
	JS         string   `json:"js"`
	CLI        string   `json:"cli"`
	AuthNote   *string  `json:"authNote"`
	WatchLink  string   `json:"watchLink"`
	PubLink    string   `json:"publishLink"`
}

type landingEvent struct {
	Event   string      `json:"event"`
	Error   string      `json:"error"`
	DOM     *landingDOM `json:"dom"`
	Console []string    `json:"console"`
}

// TestLandingPage loads the relay's landing page in headless Chromium: it
// shows the relay's URL and certificate hash, lists a broadcast published
// after it loaded and drops it once it ends (its own refresh, no reload),
// and fills the snippets with it. The screenshot goes to
// $GOMOQ_E2E_SCREENSHOT, else the test's temporary directory.
func TestLandingPage(t *testing.T) {
	requireBrowser(t)
	internal, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	relay := startRelay(t, "--internal-listen", fmt.Sprintf("127.0.0.1:%d", internal))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The internal listener serves /health too.
	rsp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", internal))
	if err != nil {
		t.Fatalf("internal /health: %v", err)
	}
	body, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()
	if rsp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("internal /health: %d %q", rsp.StatusCode, body)
	}
	rsp, err = http.Get(relay.httpURL("/certificate.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := io.ReadAll(rsp.Body)
	rsp.Body.Close()

	shot := os.Getenv("GOMOQ_E2E_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "landing.png")
	}
	const name = "e2e/landing/demo"
	job, _ := json.Marshal(map[string]any{"url": relay.httpURL("/"), "broadcast": name, "screenshot": shot, "timeoutMs": 30000})
	cmd := exec.CommandContext(ctx, "node", "landing.mjs")
	cmd.Stdin = bytes.NewReader(job)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan landingEvent)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e landingEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = landingEvent{Event: "error", Error: fmt.Sprintf("bad line %q: %v", sc.Text(), err)}
			}
			events <- e
		}
	}()
	defer func() {
		for range events {
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("landing.mjs: %v\n%s", err, stderr.String())
		}
	}()
	next := func(want string) *landingDOM {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("landing.mjs ended before %q\n%s", want, stderr.String())
			}
			if e.Event != want || e.DOM == nil {
				t.Fatalf("landing.mjs: %s %s (want %s); page shows %+v\nconsole %q", e.Event, e.Error, want, e.DOM, e.Console)
			}
			for _, l := range e.Console {
				if strings.HasPrefix(l, "error") || strings.HasPrefix(l, "pageerror") {
					t.Errorf("browser console: %s", l)
				}
			}
			return e.DOM
		case <-ctx.Done():
			t.Fatalf("no %q from landing.mjs\n%s", want, stderr.String())
		}
		return nil
	}

	dom := next("ready")
	wantURL := fmt.Sprintf("https://127.0.0.1:%d/", relay.port)
	if dom.Heading != "gomoq moq-relay" || dom.URL != wantURL || dom.Hash != string(hash) || dom.AuthNote != nil {
		t.Errorf("the page shows heading %q URL %q hash %q auth note %v; want %q %q %q none", dom.Heading, dom.URL, dom.Hash, dom.AuthNote, "gomoq moq-relay", wantURL, hash)
	}
	if len(dom.Broadcasts) != 1 || dom.Broadcasts[0] != "none yet" {
		t.Errorf("before any broadcast the list shows %q", dom.Broadcasts)
	}

	// A Go client publishes a broadcast (and holds it) once the page is up.
	sc := newScenario(t, relay, moqt.LiteDraft05)
	bctx, end := context.WithCancel(ctx)
	defer end()
	mux := moqt.NewTrackMux()
	mux.PublishFunc(bctx, "/"+name, func(tw *moqt.TrackWriter) { <-tw.Context().Done() })
	sc.dial(ctx, mux)

	dom = next("seen")
	if !strings.Contains(strings.Join(dom.Broadcasts, "\n"), name) || dom.Chosen != name {
		t.Errorf("the list shows %q (chosen %q), want %s", dom.Broadcasts, dom.Chosen, name)
	}
	for _, want := range []string{`Path.from("` + name + `")`, `new URL("` + wantURL + `")`, `value: "` + string(hash) + `"`} {
		if !strings.Contains(dom.JS, want) {
			t.Errorf("the @moq/net snippet lacks %q:\n%s", want, dom.JS)
		}
	}
	// The /watch link follows the chosen broadcast; /publish has none.
	if dom.WatchLink != "/watch?name=e2e%2Flanding%2Fdemo" || dom.PubLink != "/publish" {
		t.Errorf("the page links %q and %q, want /watch?name=e2e%%2Flanding%%2Fdemo and /publish", dom.WatchLink, dom.PubLink)
	}
	if want := fmt.Sprintf("moq sub --url http://127.0.0.1:%d/ --broadcast %s --track TRACK", relay.port, name); !strings.Contains(dom.CLI, want) {
		t.Errorf("the CLI snippet lacks %q:\n%s", want, dom.CLI)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < 500 || img.Bounds().Dy() < 500 {
		t.Errorf("screenshot %s: %v, %v", shot, err, img.Bounds())
	}
	t.Logf("screenshot: %s", shot)

	// The broadcast ends: the page drops it on its next refresh.
	end()
	dom = next("gone")
	if strings.Contains(strings.Join(dom.Broadcasts, "\n"), name) {
		t.Errorf("after the broadcast ended the list shows %q", dom.Broadcasts)
	}
}
