package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomoq/gomoq/hang"
	"github.com/gomoq/gomoq/internal/media"
	"github.com/gomoq/gomoq/moqt"
)

// requireFFmpeg returns the paths of ffmpeg and ffprobe. In CI (CI set)
// they must be there (.ci/run installs them); elsewhere the test is
// skipped with a hint.
func requireFFmpeg(t *testing.T) (ffmpeg, ffprobe string) {
	t.Helper()
	var paths []string
	for _, name := range []string{"ffmpeg", "ffprobe"} {
		p, err := exec.LookPath(name)
		if err != nil {
			const fix = "install it with `apt-get install -y ffmpeg` (.ci/run does)"
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found in CI: %s", name, fix)
			}
			t.Skipf("%s not found: %s", name, fix)
		}
		paths = append(paths, p)
	}
	return paths[0], paths[1]
}

const mediaTestdata = "../../internal/media/testdata/"

// `moq pub media` refuses bad input with a clear message and exit status
// 1, before it connects anywhere (the URL is a closed port).
func TestPubMediaBadInput(t *testing.T) {
	av, err := os.ReadFile(mediaTestdata + "av.ts")
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(mediaTestdata + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name, want string
		in         []byte
	}{
		{"empty", "the input is empty", nil},
		{"garbage", "the input is not MPEG-TS", bytes.Repeat([]byte("garbage "), 1000)},
		{"truncated", "truncated", av[:1000]},
		{"HEVC", "unsupported video codec H265", read("hevc.ts")},
		{"MP3", "unsupported audio codec", read("mp3.ts")},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := start(t, bytes.NewReader(c.in), "pub", "media", "--url", "http://127.0.0.1:1/", "--broadcast", "bad.hang")
			err := p.wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1; stderr:\n%s", err, p.stderr.text())
			}
			stderr := p.stderr.text()
			if !strings.Contains(stderr, c.want) || strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Fatalf("stderr %q, want %q and no panic", stderr, c.want)
			}
		})
	}
}

// catalogOffset returns how many bytes of ts the demuxer reads before it
// has the first catalog: a publisher fed that much has announced its
// broadcast and holds at most the first frames.
func catalogOffset(t *testing.T, ts []byte) int {
	t.Helper()
	r := bytes.NewReader(ts)
	d := media.NewDemuxer(r)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	return len(ts) - r.Len()
}

// hangFrame is a frame a Go subscriber read from a hang track.
type hangFrame struct {
	group, index int
	ts           uint64
	payload      []byte
}

// hangSub is a Go subscriber of a hang broadcast through the relay.
type hangSub struct {
	sess    *moqt.Session
	catalog *hang.Catalog
	raw     []byte
}

// dialHang connects to url, waits for broadcast and reads its catalog.
func dialHang(ctx context.Context, t *testing.T, url, broadcast string) *hangSub {
	t.Helper()
	client := &moqt.Client{Logger: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { client.Close() })
	sess, err := client.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := sess.AcceptAnnounce(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	for {
		a, err := ar.ReceiveAnnouncement(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", broadcast, err)
		}
		if a.BroadcastPath() == moqt.BroadcastPath("/"+broadcast) {
			break
		}
	}
	tr, err := sess.Subscribe(ctx, moqt.BroadcastPath("/"+broadcast), hang.CatalogTrack, nil)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := tr.AcceptGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	c, err := hang.ParseCatalog(f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return &hangSub{sess: sess, catalog: c, raw: f.Payload}
}

// trackRead is a subscription read to its end in the background.
type trackRead struct {
	first  chan struct{} // closed once the first frame arrived (or the read ended)
	done   chan struct{}
	frames []hangFrame
	err    error
}

// subscribe subscribes to a track (in order) and reads it in the
// background. Subscribe may return before the publisher accepted: the
// first frame is the proof that the subscription is live.
func (h *hangSub) subscribe(ctx context.Context, t *testing.T, broadcast, track string) *trackRead {
	t.Helper()
	tr, err := h.sess.Subscribe(ctx, moqt.BroadcastPath("/"+broadcast), moqt.TrackName(track), &moqt.TrackConfig{Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &trackRead{first: make(chan struct{}), done: make(chan struct{})}
	firstOnce := sync.OnceFunc(func() { close(r.first) })
	go func() {
		defer close(r.done)
		defer firstOnce()
		r.frames, r.err = readHangTrack(ctx, tr, track, firstOnce)
	}()
	return r
}

// wait returns the frames once the track ended.
func (r *trackRead) wait() ([]hangFrame, error) {
	<-r.done
	return r.frames, r.err
}

func readHangTrack(ctx context.Context, tr *moqt.TrackReader, track string, gotFirst func()) ([]hangFrame, error) {
	var frames []hangFrame
	for g := 0; ; g++ {
		gr, err := tr.AcceptGroup(ctx)
		if errors.Is(err, io.EOF) {
			if st := tr.Stats(); st.Dropped+st.Skipped+st.Late > 0 || st.HasStart && st.Start != 0 {
				return frames, fmt.Errorf("track %s lost groups: %+v", track, st)
			}
			return frames, nil
		}
		if err != nil {
			return frames, err
		}
		for i := 0; ; i++ {
			f, err := gr.ReadFrame()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return frames, fmt.Errorf("group %d: %w", gr.GroupSequence(), err)
			}
			ts, payload, err := hang.ParseFrame(f.Payload)
			if err != nil {
				return frames, err
			}
			frames = append(frames, hangFrame{g, i, ts, payload})
			gotFirst()
		}
	}
}

// nalTypesOf returns the NAL unit types of an Annex B payload.
func nalTypesOf(b []byte) []byte {
	var types []byte
	for i := 0; i+3 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			types = append(types, b[i+3]&0x1f)
			i += 2
		}
	}
	return types
}

// checkVideoGroups checks the hang video rules: each group opens with an
// IDR access unit carrying SPS and PPS, no other frame is one, and
// timestamps increase.
func checkVideoGroups(t *testing.T, frames []hangFrame) (groups int) {
	t.Helper()
	for i, f := range frames {
		types := nalTypesOf(f.payload)
		idr := bytes.IndexByte(types, 5)
		if f.index == 0 {
			groups++
			sps, pps := bytes.IndexByte(types, 7), bytes.IndexByte(types, 8)
			if idr < 0 || sps < 0 || pps < 0 || sps > idr || pps > idr {
				t.Fatalf("group %d opens with NAL types %v, want SPS and PPS before an IDR", f.group, types)
			}
		} else if idr >= 0 {
			t.Fatalf("group %d frame %d is an IDR", f.group, f.index)
		}
		if i > 0 && f.ts <= frames[i-1].ts {
			t.Fatalf("video frame %d at %d µs after %d µs", i, f.ts, frames[i-1].ts)
		}
	}
	return groups
}

// A Go subscriber of `moq pub media` through the relay gets the catalog
// and exactly the frames the demuxer makes of the file: every video group
// a GoP that opens with SPS, PPS and an IDR, audio in groups
// of 200 ms, timestamps increasing on one clock. Needs no ffmpeg (the input is
// committed testdata).
func TestPubMediaHang(t *testing.T) {
	ts, err := os.ReadFile(mediaTestdata + "av.ts")
	if err != nil {
		t.Fatal(err)
	}
	want := demuxFrames(t, ts)
	url := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound, not a synchronisation
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	pub := start(t, pr, "pub", "media", "--url", url, "--broadcast", "testsrc.hang")
	// The publisher announces once it has the catalog; it then holds only
	// the first frames. The rest is written once the subscriber is there,
	// so that every group reaches it live, none from the relay's cache.
	off := catalogOffset(t, ts)
	go pw.Write(ts[:off])
	sub := dialHang(ctx, t, url, "testsrc.hang")
	if got := string(sub.raw); got != string(want.catalog) {
		t.Fatalf("catalog %s, want %s", got, want.catalog)
	}
	readVideo := sub.subscribe(ctx, t, "testsrc.hang", media.VideoTrack)
	readAudio := sub.subscribe(ctx, t, "testsrc.hang", media.AudioTrack)
	<-readVideo.first
	<-readAudio.first
	go func() {
		pw.Write(ts[off:])
		pw.Close()
	}()
	video, err := readVideo.wait()
	if err != nil {
		t.Fatalf("video: %v; moq pub media:\n%s", err, pub.stderr.text())
	}
	audio, err := readAudio.wait()
	if err != nil {
		t.Fatalf("audio: %v; moq pub media:\n%s", err, pub.stderr.text())
	}
	if err := pub.wait(); err != nil {
		t.Fatalf("moq pub media: %v\n%s", err, pub.stderr.text())
	}
	if groups := checkVideoGroups(t, video); groups != 4 || len(video) != 60 {
		t.Fatalf("%d video frames in %d groups, want 60 in 4 (GoP 15)", len(video), groups)
	}
	// Groups of AudioGroupDuration (200 ms): ten 21.3 ms frames each.
	if len(audio) != 95 {
		t.Fatalf("%d audio frames, want 95", len(audio))
	}
	for i, f := range audio {
		if f.group != i/10 || f.index != i%10 || i > 0 && f.ts <= audio[i-1].ts {
			t.Fatalf("audio frame %d: group %d index %d at %d µs", i, f.group, f.index, f.ts)
		}
	}
	same := func(track string, got []hangFrame, want []media.Frame) {
		for i := range want {
			if got[i].ts != want[i].Timestamp || !bytes.Equal(got[i].payload, want[i].Payload) {
				t.Fatalf("%s frame %d: %d µs, %d bytes; want %d µs, %d bytes", track, i, got[i].ts, len(got[i].payload), want[i].Timestamp, len(want[i].Payload))
			}
		}
	}
	same("video", video, want.video)
	same("audio", audio, want.audio)
	// One clock: ffprobe puts the first audio PTS at 1.400000 s and the
	// first video PTS at 1.421333 s.
	if audio[0].ts != 0 || video[0].ts != 21333 {
		t.Fatalf("first timestamps: audio %d µs, video %d µs; want 0 and 21333", audio[0].ts, video[0].ts)
	}
	if !strings.Contains(pub.stderr.text(), "published video: 60 frames in 4 groups, audio: 95 frames in 10 groups") {
		t.Fatalf("moq pub media stderr:\n%s", pub.stderr.text())
	}
}

type demuxed struct {
	catalog      []byte
	video, audio []media.Frame
}

// demuxFrames runs the demuxer over ts.
func demuxFrames(t *testing.T, ts []byte) demuxed {
	t.Helper()
	var out demuxed
	d := media.NewDemuxer(bytes.NewReader(ts))
	for {
		ev, err := d.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case *hang.Catalog:
			if out.catalog == nil {
				out.catalog, _ = json.Marshal(e)
			}
		case media.Frame:
			if e.Track == media.VideoTrack {
				out.video = append(out.video, e)
			} else {
				out.audio = append(out.audio, e)
			}
		}
	}
}

// probed is what ffprobe says of a stream.
type probed struct {
	codec         string
	width, height int
	frames        int
	start         float64
}

// ffprobe returns the video and audio stream of a file.
func ffprobe(t *testing.T, bin, path string) (video, audio probed) {
	t.Helper()
	out, err := exec.Command(bin, "-v", "error", "-count_frames", "-show_entries", "stream=codec_type,codec_name,width,height,nb_read_frames,start_time", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var res struct {
		Streams []struct {
			Type   string `json:"codec_type"`
			Codec  string `json:"codec_name"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
			Frames string `json:"nb_read_frames"`
			Start  string `json:"start_time"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	for _, s := range res.Streams {
		n, _ := strconv.Atoi(s.Frames)
		st, _ := strconv.ParseFloat(s.Start, 64)
		p := probed{codec: s.Codec, width: s.Width, height: s.Height, frames: n, start: st}
		switch s.Type {
		case "video":
			video = p
		case "audio":
			audio = p
		}
	}
	return video, audio
}

// startToFile starts moq with its stdout written to a file.
func startToFile(t *testing.T, stdin io.Reader, out string, args ...string) *proc {
	dir, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	p := &proc{cmd: exec.Command(filepath.Join(dir, "moq"), args...), ungate: func() {}}
	p.cmd.Stdin = stdin
	p.cmd.Stdout = f
	errPipe, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.stdout = newLineWaiter(strings.NewReader(""), nil)
	p.stderr = newLineWaiter(errPipe, nil)
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.wait()
	})
	return p
}

// ffmpeg's test pattern and tone as MPEG-TS → `moq pub media` → relay →
// `moq sub media` → a file that ffprobe reads back as the same H.264 and
// AAC streams, the same size and every frame; beside it a Go subscriber
// checks the hang video track itself.
func TestMediaFFmpeg(t *testing.T) {
	ffmpeg, ffprobeBin := requireFFmpeg(t)
	dir := t.TempDir()
	// 3 s, 320x180 at 30 fps, GoP 30, no B-frames; AAC 48 kHz stereo. Not
	// paced with -re: the test feeds the publisher in two steps instead
	// (see below), so nothing depends on timing.
	src := filepath.Join(dir, "src.ts")
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-f", "lavfi", "-i", "sine=f=440:r=48000",
		"-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-ac", "2", "-f", "mpegts", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	ts, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr.String())
	}
	if err := os.WriteFile(src, ts, 0o644); err != nil {
		t.Fatal(err)
	}
	srcVideo, srcAudio := ffprobe(t, ffprobeBin, src)
	t.Logf("ffmpeg wrote %d bytes: video %+v, audio %+v", len(ts), srcVideo, srcAudio)

	url := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a bound, not a synchronisation
	defer cancel()
	out := filepath.Join(dir, "out.ts")
	subMedia := startToFile(t, nil, out, "sub", "media", "--url", url, "--broadcast", "ffmpeg.hang")
	pr, pw := io.Pipe()
	defer pw.Close()
	pub := start(t, pr, "pub", "media", "--url", url, "--broadcast", "ffmpeg.hang")
	// First the bytes up to the catalog: the publisher announces, holding
	// only the first frames (fewer groups than the relay caches).
	off := catalogOffset(t, ts)
	go pw.Write(ts[:off])
	// `moq sub media` says when each track's first frame arrived.
	subMedia.stderr.waitFor(t, "receiving video")
	subMedia.stderr.waitFor(t, "receiving audio")
	// The Go subscriber takes the video track (not audio: the relay gives
	// a track's first subscriber every cached group and later ones the
	// latest, and `moq sub media` must be the first for both; video has
	// one group so far, the latest).
	sub := dialHang(ctx, t, url, "ffmpeg.hang")
	readVideo := sub.subscribe(ctx, t, "ffmpeg.hang", media.VideoTrack)
	<-readVideo.first
	go func() {
		pw.Write(ts[off:])
		pw.Close()
	}()
	video, err := readVideo.wait()
	if err != nil {
		t.Fatalf("Go subscriber: %v", err)
	}
	if err := pub.wait(); err != nil {
		t.Fatalf("moq pub media: %v\n%s", err, pub.stderr.text())
	}
	if err := subMedia.wait(); err != nil {
		t.Fatalf("moq sub media: %v\n%s", err, subMedia.stderr.text())
	}
	t.Logf("moq pub media: %s", strings.TrimSpace(pub.stderr.text()))
	t.Logf("moq sub media: %s", strings.TrimSpace(subMedia.stderr.text()))

	// The hang side: the catalog and the video track.
	v, ok := sub.catalog.Video.Renditions[media.VideoTrack]
	if !ok || !strings.HasPrefix(v.Codec, "avc1.") || int(v.CodedWidth) != srcVideo.width || int(v.CodedHeight) != srcVideo.height || !v.Container.IsLegacy() || v.Description != "" {
		t.Fatalf("catalog video %+v, want avc1 %dx%d, legacy, no description", v, srcVideo.width, srcVideo.height)
	}
	a, ok := sub.catalog.Audio.Renditions[media.AudioTrack]
	if !ok || a.Codec != "mp4a.40.2" || a.Description != "1190" || a.SampleRate != 48000 || a.NumberOfChannels != 2 {
		t.Fatalf("catalog audio %+v, want mp4a.40.2 1190 48000 Hz 2 channels", a)
	}
	groups := checkVideoGroups(t, video)
	if len(video) != srcVideo.frames || groups != (srcVideo.frames+29)/30 {
		t.Fatalf("Go subscriber: %d video frames in %d groups, want %d in %d", len(video), groups, srcVideo.frames, (srcVideo.frames+29)/30)
	}

	// What ffprobe reads back from `moq sub media`.
	outVideo, outAudio := ffprobe(t, ffprobeBin, out)
	t.Logf("ffprobe of moq sub media's output: video %+v, audio %+v", outVideo, outAudio)
	if outVideo.codec != "h264" || outVideo.width != srcVideo.width || outVideo.height != srcVideo.height || outVideo.frames != srcVideo.frames {
		t.Fatalf("video read back %+v, want h264 %dx%d with %d frames", outVideo, srcVideo.width, srcVideo.height, srcVideo.frames)
	}
	if outAudio.codec != "aac" || outAudio.frames != srcAudio.frames {
		t.Fatalf("audio read back %+v, want aac with %d frames", outAudio, srcAudio.frames)
	}
	// One clock: the video's offset from the audio survives (to the
	// millisecond: µs timestamps, 90 kHz PTS).
	if d := (outVideo.start - outAudio.start) - (srcVideo.start - srcAudio.start); d > 0.001 || d < -0.001 {
		t.Fatalf("video starts %.6f s after audio, ffmpeg had %.6f s", outVideo.start-outAudio.start, srcVideo.start-srcAudio.start)
	}
}

// The renditions `moq sub media` picks: H.264 and AAC in the legacy
// container; @moq/publish's Opus audio is skipped.
func TestPickRenditions(t *testing.T) {
	c, err := hang.ParseCatalog([]byte(`{"video":{"renditions":{"video/hd":{"codec":"avc1.640028","codedWidth":1280,"codedHeight":720,"container":{"kind":"legacy"}},"a-vp9":{"codec":"vp09.00.10.08","container":{"kind":"legacy"}}}},"audio":{"renditions":{"audio/data":{"codec":"opus","sampleRate":48000,"numberOfChannels":2,"container":{"kind":"legacy"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	vname, v, aname, a := pickRenditions(c, slog.New(slog.DiscardHandler))
	if vname != "video/hd" || v == nil || v.Codec != "avc1.640028" || aname != "" || a != nil {
		t.Fatalf("picked %q %+v and %q %+v", vname, v, aname, a)
	}
}
