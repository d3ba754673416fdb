package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// mediaResult is what media.mjs reports from the relay's /watch page.
type mediaResult struct {
	OK      bool                `json:"ok"`
	Error   string              `json:"error"`
	Console map[string][]string `json:"console"`

	PublishAnnouncedMs  *float64 `json:"publishAnnouncedMs"`
	StatusBeforePublish string   `json:"statusBeforePublish"`
	Media               *struct {
		Video decoderCount `json:"video"`
		Audio decoderCount `json:"audio"`
	} `json:"media"`
	URL     string `json:"url"`
	Status  string `json:"status"`
	Catalog *struct {
		Video *struct {
			Renditions map[string]struct {
				Codec       string `json:"codec"`
				CodedWidth  int    `json:"codedWidth"`
				CodedHeight int    `json:"codedHeight"`
			} `json:"renditions"`
		} `json:"video"`
		Audio *struct {
			Renditions map[string]struct {
				Codec      string `json:"codec"`
				SampleRate int    `json:"sampleRate"`
			} `json:"renditions"`
		} `json:"audio"`
	} `json:"catalog"`
	VideoStats *struct {
		FrameCount    int `json:"frameCount"`
		BytesReceived int `json:"bytesReceived"`
	} `json:"videoStats"`
	VideoTimestamp *float64 `json:"videoTimestamp"`
	Canvas         *struct {
		Width        int       `json:"width"`
		Height       int       `json:"height"`
		Mean         []float64 `json:"mean"`
		DarkFraction float64   `json:"darkFraction"`
	} `json:"canvas"`
}

// decoderCount is what media.mjs's VideoDecoder/AudioDecoder wrapper saw.
type decoderCount struct {
	Configured    []string `json:"configured"`
	Decoded       int      `json:"decoded"`
	FirstMs       *float64 `json:"firstMs"` // since the watch page's navigation
	Width         int      `json:"width"`   // of the last frame: display size
	Height        int      `json:"height"`
	Coded         []int    `json:"coded"` // coded size (may include padding)
	LastTimestamp *float64 `json:"lastTimestamp"`
	SampleRate    int      `json:"sampleRate"`
	Channels      int      `json:"channels"`
	Errors        []string `json:"errors"`
}

// writeSolidY4M writes a Y4M file of two frames of one colour (full-range
// BT.601, C420jpeg), for Chromium's --use-file-for-fake-video-capture.
func writeSolidY4M(path string, w, h int, rgb [3]float64) error {
	r, g, b := rgb[0], rgb[1], rgb[2]
	clamp := func(v float64) byte { return byte(math.Max(0, math.Min(255, math.Round(v)))) }
	y := clamp(0.299*r + 0.587*g + 0.114*b)
	u := clamp(128 - 0.168736*r - 0.331264*g + 0.5*b)
	v := clamp(128 + 0.5*r - 0.418688*g - 0.081312*b)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "YUV4MPEG2 W%d H%d F30:1 Ip A1:1 C420jpeg\n", w, h)
	for range 2 {
		buf.WriteString("FRAME\n")
		buf.Write(bytes.Repeat([]byte{y}, w*h))
		buf.Write(bytes.Repeat([]byte{u}, w*h/4))
		buf.Write(bytes.Repeat([]byte{v}, w*h/4))
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// runMedia runs media.mjs with job and returns its report.
func runMedia(ctx context.Context, t *testing.T, job map[string]any) *mediaResult {
	t.Helper()
	in, _ := json.Marshal(job)
	cmd := exec.CommandContext(ctx, "node", "media.mjs")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var res mediaResult
	if jerr := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil || jerr != nil {
		t.Fatalf("media.mjs: %v (output %v)\nstdout %s\nstderr %s", err, jerr, stdout.String(), stderr.String())
	}
	return &res
}

// checkWatched asserts what every /watch run must show: live, frames and
// (if wantAudio) audio decoded without decoder errors, a picture on the
// canvas, and no page errors.
func checkWatched(t *testing.T, res *mediaResult, wantVideo, wantAudio int) {
	t.Helper()
	if !res.OK {
		t.Errorf("media.mjs: %s", res.Error)
	}
	for who, lines := range res.Console {
		for _, l := range lines {
			if strings.HasPrefix(l, "pageerror") || strings.HasPrefix(l, "error") {
				t.Errorf("%s page console: %s", who, l)
			}
		}
	}
	if res.Status != "live" {
		t.Errorf("<moq-watch> status %q, want live", res.Status)
	}
	if res.URL == "" || !strings.HasPrefix(res.URL, "http://127.0.0.1:") {
		t.Errorf("<moq-watch url=%q>: want the page's own http:// origin", res.URL)
	}
	m := res.Media
	if m == nil {
		t.Fatalf("no decoder counts (the wrapper did not run)")
	}
	if m.Video.Decoded < wantVideo || len(m.Video.Errors) > 0 || m.Video.Width == 0 || m.Video.Height == 0 {
		t.Errorf("video: %d frames decoded (want ≥ %d), %dx%d, errors %q", m.Video.Decoded, wantVideo, m.Video.Width, m.Video.Height, m.Video.Errors)
	}
	if len(m.Video.Configured) == 0 || !strings.HasPrefix(m.Video.Configured[0], "avc1.") {
		t.Errorf("video decoder configured for %q, want avc1.*", m.Video.Configured)
	}
	if wantAudio > 0 && (m.Audio.Decoded < wantAudio || len(m.Audio.Errors) > 0) {
		t.Errorf("audio: %d decoded (want ≥ %d), errors %q", m.Audio.Decoded, wantAudio, m.Audio.Errors)
	}
	if res.VideoTimestamp == nil || *res.VideoTimestamp <= 0 {
		t.Errorf("<moq-watch> video.out.timestamp = %v, want it advanced", res.VideoTimestamp)
	}
	if c := res.Canvas; c == nil || c.Width == 0 || len(c.Mean) != 3 || c.DarkFraction > 0.5 {
		t.Errorf("canvas: %+v, want a picture (mostly not black)", c)
	}
	var negotiated []string
	for who, lines := range res.Console {
		for _, l := range lines {
			if i := strings.Index(l, "negotiated ALPN: "); i >= 0 {
				negotiated = append(negotiated, who+" "+l[i+len("negotiated ALPN: "):])
			}
		}
	}
	first := func(d decoderCount) string {
		if d.FirstMs == nil {
			return "none"
		}
		return fmt.Sprintf("%.0f ms", *d.FirstMs)
	}
	t.Logf("watch: %d video frames decoded (%v, %dx%d, coded %v), %d audio outputs (%v, %d Hz, %d ch); first video frame %s and first audio %s after the watch page's navigation; negotiated %q",
		m.Video.Decoded, m.Video.Configured, m.Video.Width, m.Video.Height, m.Video.Coded, m.Audio.Decoded, m.Audio.Configured, m.Audio.SampleRate, m.Audio.Channels, first(m.Video), first(m.Audio), negotiated)
	if c := res.Canvas; c != nil {
		t.Logf("canvas %dx%d: mean colour of its middle %v, %.0f%% near black", c.Width, c.Height, c.Mean, 100*c.DarkFraction)
	}
}

// logRelayOnFailure logs what the relay wrote during a test that fails.
func logRelayOnFailure(t *testing.T, relay *relayProc) {
	mark := relay.log.mark()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay log during this test:\n%s", relay.tail(mark, 120))
		}
	})
}

func watchNegotiated(res *mediaResult) string {
	for _, l := range res.Console["watch"] {
		if i := strings.Index(l, "negotiated ALPN: "); i >= 0 {
			return l[i+len("negotiated ALPN: "):]
		}
	}
	return ""
}

// TestMediaPublishToWatch: the relay's own /publish page (@moq/publish
// 0.2.17, moq-lite-04 at most) publishes Chromium's fake camera, a solid
// colour from a Y4M file, and its fake microphone through the relay binary;
// its /watch page (@moq/watch 0.4.6, moq-lite-05) in another browser
// context goes live and decodes video and audio, and its canvas shows the
// colour. Once with the publisher first (the watcher joins a live
// broadcast), once with the watcher first (it waits for the announcement),
// and once from Chromium's fake screen capture.
func TestMediaPublishToWatch(t *testing.T) {
	requireBrowser(t)
	relay := startRelay(t)
	dir := t.TempDir()
	y4m := filepath.Join(dir, "solid.y4m")
	colour := [3]float64{40, 180, 90}
	if err := writeSolidY4M(y4m, 640, 360, colour); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		source     string
		watchFirst bool
	}{
		{"camera, publisher first", "camera", false},
		{"camera, watcher first", "camera", true},
		// Chromium's fake screen capture: a generated picture, no sound.
		{"screen", "screen", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logRelayOnFailure(t, relay)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			shot := os.Getenv("GOMOQ_E2E_MEDIA_SCREENSHOT")
			if shot == "" || tc.watchFirst || tc.source != "camera" {
				shot = filepath.Join(t.TempDir(), "watch.png")
			}
			audio := 50
			if tc.source == "screen" {
				audio = 0
			}
			res := runMedia(ctx, t, map[string]any{
				"relay": relay.httpURL(""), "name": fmt.Sprintf("e2e/media/%s-%v.hang", tc.source, tc.watchFirst), "publish": true,
				"source": tc.source, "watchFirst": tc.watchFirst, "y4m": y4m, "videoFrames": 60, "audioFrames": audio,
				"screenshot": shot, "timeoutMs": 60000,
			})
			defer func() {
				if t.Failed() {
					t.Logf("media.mjs report: %s", mustJSON(res))
				}
			}()
			checkWatched(t, res, 60, audio)
			if tc.watchFirst && res.StatusBeforePublish != "offline" {
				t.Errorf("before the publisher, the connected watcher's status is %q, want offline", res.StatusBeforePublish)
			}
			if res.Catalog == nil || res.Catalog.Video == nil || (audio > 0 && res.Catalog.Audio == nil) {
				t.Fatalf("catalog %+v: want video and audio", res.Catalog)
			}
			if got := watchNegotiated(res); got != "moq-lite-05" {
				t.Errorf("the watch page negotiated %q, want moq-lite-05", got)
			}
			if audio == 0 {
				return
			}
			for name, r := range res.Catalog.Audio.Renditions {
				if r.Codec != "opus" {
					t.Errorf("audio rendition %s: codec %q, want opus", name, r.Codec)
				}
			}
			if c := res.Canvas; c != nil && len(c.Mean) == 3 {
				for i, want := range colour {
					// 4:2:0 chroma, H.264 and range conversions move a
					// solid colour a little; black or another colour
					// moves it far.
					if math.Abs(c.Mean[i]-want) > 40 {
						t.Errorf("canvas mean colour %v, want near %v (the fake camera's)", c.Mean, colour)
						break
					}
				}
			}
			if res.PublishAnnouncedMs != nil {
				t.Logf("publish page: announced %.0f ms after it was opened; screenshot %s", *res.PublishAnnouncedMs, shot)
			}
		})
	}
}

// lineWaiter collects a process's stderr and signals when a line containing
// a given text arrives.
type lineWaiter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	found chan struct{}
}

func newLineWaiter(want string) *lineWaiter {
	return &lineWaiter{want: want, found: make(chan struct{})}
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.buf.String(), w.want)
	w.buf.Write(p)
	if !had && strings.Contains(w.buf.String(), w.want) {
		close(w.found)
	}
	return len(p), nil
}

func (w *lineWaiter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestMediaIngestToWatch: Debian's ffmpeg writes a live test pattern and a
// tone (-re, H.264 and AAC in MPEG-TS) into `moq pub media`, which
// publishes it through the relay binary; the relay's /watch page decodes
// video and audio frames from it and shows a picture.
func TestMediaIngestToWatch(t *testing.T) {
	requireBrowser(t)
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		const fix = "install it with `apt-get install -y ffmpeg` (.ci/run does)"
		if os.Getenv("CI") != "" {
			t.Fatalf("ffmpeg not found in CI: %s", fix)
		}
		t.Skipf("ffmpeg not found: %s", fix)
	}
	relay := startRelay(t)
	logRelayOnFailure(t, relay)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	moq := filepath.Join(t.TempDir(), "moq")
	build := exec.Command("go", "build", "-o", moq, "./cmd/moq")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/moq: %v\n%s", err, out)
	}

	const name = "e2e/media/ffmpeg.hang"
	// Live: -re paces the input, so timestamps move forward in real time
	// as @moq/watch's playback clock expects; 1 s GoPs, no B-frames. -t
	// bounds it should the test not stop it.
	ff := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=f=440:r=48000",
		"-t", "120", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "96k", "-ac", "2", "-f", "mpegts", "-")
	var ffErr bytes.Buffer
	ff.Stderr = &ffErr
	pub := exec.CommandContext(ctx, moq, "pub", "media", "--url", relay.httpURL("/"), "--broadcast", name)
	pubErr := newLineWaiter("moq: publishing")
	pub.Stderr = pubErr
	if pub.Stdin, err = ff.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	if err := ff.Start(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	if err := pub.Start(); err != nil {
		ff.Process.Kill()
		ff.Wait()
		t.Fatalf("moq pub media: %v", err)
	}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Wait() }()
	defer func() {
		// The test ends the stream: ffmpeg, interrupted, finishes its
		// output (whole TS packets), and moq pub media ends with its input.
		stopped := time.Now()
		ff.Process.Signal(os.Interrupt)
		ffDone := make(chan struct{})
		go func() { ff.Wait(); close(ffDone) }()
		select {
		case <-ffDone:
		case <-time.After(20 * time.Second):
			ff.Process.Kill()
			<-ffDone
		}
		select {
		case err := <-pubDone:
			if err != nil {
				t.Errorf("moq pub media: %v\n%s", err, pubErr.String())
			}
		case <-time.After(30 * time.Second):
			pub.Process.Kill()
			<-pubDone
			t.Errorf("moq pub media did not exit within 30 s of its input's end\n%s", pubErr.String())
		}
		t.Logf("ffmpeg interrupted: moq pub media exited %v later and said:\n%s", time.Since(stopped).Round(time.Millisecond), pubErr.String())
	}()
	select {
	case <-pubErr.found:
	case err := <-pubDone:
		t.Fatalf("moq pub media exited before publishing: %v\n%s\nffmpeg: %s", err, pubErr.String(), ffErr.String())
	case <-ctx.Done():
		t.Fatalf("moq pub media did not start publishing\n%s\nffmpeg: %s", pubErr.String(), ffErr.String())
	}

	res := runMedia(ctx, t, map[string]any{
		"relay": relay.httpURL(""), "name": name, "videoFrames": 60, "audioFrames": 50, "timeoutMs": 60000,
	})
	defer func() {
		if t.Failed() {
			t.Logf("media.mjs report: %s", mustJSON(res))
		}
	}()
	checkWatched(t, res, 60, 50)
	if got := watchNegotiated(res); got != "moq-lite-05" {
		t.Errorf("the watch page negotiated %q, want moq-lite-05", got)
	}
	if m := res.Media; m != nil {
		if m.Video.Width != 640 || m.Video.Height != 360 {
			t.Errorf("decoded video is %dx%d, want ffmpeg's 640x360", m.Video.Width, m.Video.Height)
		}
		if len(m.Audio.Configured) == 0 || m.Audio.Configured[0] != "mp4a.40.2" || m.Audio.SampleRate != 48000 || m.Audio.Channels != 2 {
			t.Errorf("audio decoder %q at %d Hz, %d channels; want mp4a.40.2, 48000, 2", m.Audio.Configured, m.Audio.SampleRate, m.Audio.Channels)
		}
	}
}
