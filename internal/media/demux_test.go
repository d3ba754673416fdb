package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/asticode/go-astits"

	"github.com/gomoq/gomoq/hang"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// demuxed is everything a Demuxer produced from one input.
type demuxed struct {
	catalogs []*hang.Catalog
	frames   map[string][]Frame
	err      error // the error that ended it (nil: io.EOF)
	warnings []string
}

// logRecorder is a slog handler that keeps the messages logged.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (l logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.msgs = append(*l.msgs, r.Message)
	return nil
}
func (l logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logRecorder) WithGroup(string) slog.Handler      { return l }

func demuxAll(b []byte) *demuxed {
	out := &demuxed{frames: map[string][]Frame{}}
	d := NewDemuxer(bytes.NewReader(b))
	d.Logger = slog.New(logRecorder{mu: new(sync.Mutex), msgs: &out.warnings})
	for {
		ev, err := d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				out.err = err
			}
			return out
		}
		switch e := ev.(type) {
		case *hang.Catalog:
			if len(out.frames) > 0 && len(out.catalogs) == 0 {
				panic("a frame before the first catalog")
			}
			out.catalogs = append(out.catalogs, e)
		case Frame:
			out.frames[e.Track] = append(out.frames[e.Track], e)
		}
	}
}

func TestDemuxAV(t *testing.T) {
	got := demuxAll(readTestdata(t, "av.ts"))
	if got.err != nil {
		t.Fatal(got.err)
	}
	if len(got.catalogs) != 1 {
		t.Fatalf("%d catalogs, want 1", len(got.catalogs))
	}
	want := `{"video":{"renditions":{"video":{"codec":"avc1.42c00b","container":{"kind":"legacy"},"codedWidth":160,"codedHeight":90,"framerate":30,"optimizeForLatency":true}},"display":{"width":160,"height":90}},"audio":{"renditions":{"audio":{"codec":"mp4a.40.2","container":{"kind":"legacy"},"description":"1190","sampleRate":48000,"numberOfChannels":2}}}}`
	if j := string(mustJSON(got.catalogs[0])); j != want {
		t.Fatalf("catalog\n%s\nwant\n%s", j, want)
	}
	// ffprobe -count_frames: 60 video frames (GoP 15: 4 IDRs), 95 AAC frames.
	video, audio := got.frames[VideoTrack], got.frames[AudioTrack]
	if len(video) != 60 || len(audio) != 95 {
		t.Fatalf("%d video and %d audio frames, want 60 and 95", len(video), len(audio))
	}
	keys := 0
	for i, f := range video {
		types := nalTypes(f.Payload)
		if f.Key != (i%15 == 0) {
			t.Fatalf("video frame %d: key %v", i, f.Key)
		}
		if f.Key {
			keys++
			// SPS and PPS before the IDR slice.
			if !bytes.Contains(types, []byte{7, 8, 5}) && !bytes.Contains(types, []byte{7, 8, 6, 5}) {
				t.Fatalf("key frame %d: NAL types %v", i, types)
			}
		} else if bytes.ContainsAny(types, "\x05\x07") {
			t.Fatalf("frame %d: NAL types %v", i, types)
		}
		if !bytes.HasPrefix(f.Payload, []byte{0, 0, 0, 1}) {
			t.Fatalf("frame %d does not start with a 4-byte start code", i)
		}
	}
	// One clock: ffprobe gives start times 1.400000 (audio) and 1.421333
	// (video); the earliest is 0.
	if audio[0].Timestamp != 0 || video[0].Timestamp != 21333 {
		t.Fatalf("first timestamps: audio %d video %d, want 0 and 21333", audio[0].Timestamp, video[0].Timestamp)
	}
	checkIncreasing(t, video, 33333)
	checkIncreasing(t, audio, 21333) // 1024 samples at 48 kHz
	// Audio groups of AudioGroupDuration: 21333 µs frames, ten a group.
	for i, f := range audio {
		if f.Key != (i%10 == 0) || len(f.Payload) == 0 || f.Payload[0] == 0xff {
			t.Fatalf("audio frame %d: key %v, %d bytes, starts %x (ADTS not stripped?)", i, f.Key, len(f.Payload), f.Payload[:1])
		}
	}
	if len(got.warnings) != 0 {
		t.Fatalf("warnings: %q", got.warnings)
	}
}

// checkIncreasing checks that timestamps go up by step µs (±1 for the
// 90 kHz rounding).
func checkIncreasing(t *testing.T, frames []Frame, step uint64) {
	t.Helper()
	for i := 1; i < len(frames); i++ {
		d := frames[i].Timestamp - frames[i-1].Timestamp
		if frames[i].Timestamp <= frames[i-1].Timestamp || d+1 < step || d > step+1 {
			t.Fatalf("%s frame %d at %d after %d, want a step of %d", frames[i].Track, i, frames[i].Timestamp, frames[i-1].Timestamp, step)
		}
	}
}

func TestDemuxOneStream(t *testing.T) {
	high := demuxAll(readTestdata(t, "high.ts"))
	if high.err != nil || len(high.catalogs) != 1 || high.catalogs[0].Audio != nil || len(high.frames[VideoTrack]) != 10 {
		t.Fatalf("high.ts: %v, %d catalogs, %d frames", high.err, len(high.catalogs), len(high.frames[VideoTrack]))
	}
	if v := high.catalogs[0].Video.Renditions[VideoTrack]; v.Codec != "avc1.64000b" || v.CodedWidth != 160 || v.CodedHeight != 90 || v.Framerate != 25 {
		t.Fatalf("high.ts: %+v", v)
	}
	checkIncreasing(t, high.frames[VideoTrack], 40000)
	mono := demuxAll(readTestdata(t, "mono44.ts"))
	if mono.err != nil || len(mono.catalogs) != 1 || mono.catalogs[0].Video != nil || len(mono.frames[AudioTrack]) != 23 {
		t.Fatalf("mono44.ts: %v, %d catalogs, %d frames", mono.err, len(mono.catalogs), len(mono.frames[AudioTrack]))
	}
	if a := mono.catalogs[0].Audio.Renditions[AudioTrack]; a.Description != "1208" || a.SampleRate != 44100 || a.NumberOfChannels != 1 {
		t.Fatalf("mono44.ts: %+v", a)
	}
	// 1024 samples at 44.1 kHz is 23219.95 µs; the PES PTS (90 kHz) and the
	// per-frame offsets within a PES round it.
	for i, f := range mono.frames[AudioTrack][1:] {
		d := f.Timestamp - mono.frames[AudioTrack][i].Timestamp
		if d < 23195 || d > 23245 { // two 11 µs ticks either way
			t.Fatalf("audio frame %d: step %d µs", i+1, d)
		}
	}
}

// A stream the PMT lists but that never carries data (here av.ts without
// its audio packets) leaves the catalog with the others, and a warning.
func TestDemuxMissingStream(t *testing.T) {
	av := readTestdata(t, "av.ts")
	var videoOnly []byte
	for p := av; len(p) >= 188; p = p[188:] {
		if pid := int(p[1]&0x1f)<<8 | int(p[2]); pid != 0x101 {
			videoOnly = append(videoOnly, p[:188]...)
		}
	}
	got := demuxAll(videoOnly)
	if got.err != nil || len(got.catalogs) != 1 || got.catalogs[0].Audio != nil || got.catalogs[0].Video == nil {
		t.Fatalf("%v, catalogs %s", got.err, mustJSON(got.catalogs))
	}
	if len(got.frames[VideoTrack]) != 60 || len(got.frames[AudioTrack]) != 0 {
		t.Fatalf("%d video and %d audio frames, want 60 and 0", len(got.frames[VideoTrack]), len(got.frames[AudioTrack]))
	}
	if !strings.Contains(strings.Join(got.warnings, "\n"), "no audio configuration") {
		t.Fatalf("warnings %q", got.warnings)
	}
}

func TestDemuxBFramesWarn(t *testing.T) {
	got := demuxAll(readTestdata(t, "bframes.ts"))
	if got.err != nil || len(got.frames[VideoTrack]) != 10 {
		t.Fatalf("%v, %d frames", got.err, len(got.frames[VideoTrack]))
	}
	joined := strings.Join(got.warnings, "\n")
	if !strings.Contains(joined, "B-frames") {
		t.Fatalf("no B-frame warning in %q", got.warnings)
	}
}

func TestDemuxBadInput(t *testing.T) {
	av := readTestdata(t, "av.ts")
	for _, c := range []struct {
		name  string
		in    []byte
		error string
	}{
		{"empty", nil, "empty"},
		{"garbage", bytes.Repeat([]byte("not a transport stream "), 100), "not MPEG-TS"},
		{"text with a sync byte", append([]byte{0x47}, bytes.Repeat([]byte{'x'}, 1000)...), "MPEG-TS"},
		{"truncated in the first packets", av[:1000], "truncated"},
		{"truncated at the end", av[:len(av)-100], "truncated"},
		{"HEVC", readTestdata(t, "hevc.ts"), "unsupported video codec"},
		{"MP3", readTestdata(t, "mp3.ts"), "unsupported audio codec"},
		{"no PMT", av[:188], "no MPEG-TS program"},
		{"garbage after the start", append(append([]byte(nil), av[:188*20]...), bytes.Repeat([]byte{1}, 188*3)...), "lost sync"},
		{"no video and no audio", metadataOnly(t), "no H.264 video and no AAC audio"},
		{"no PMT in 5 MB", tsPackets(0x1fff, false, 5<<20/188), "no MPEG-TS program table"},
		{"a PES packet without end", append(append([]byte(nil), av[:188*4]...), tsPackets(0x100, true, 17<<20/188)...), "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := demuxAll(c.in)
			if got.err == nil || !strings.Contains(got.err.Error(), c.error) {
				t.Fatalf("error %v, want one containing %q", got.err, c.error)
			}
		})
	}
}

// tsPackets returns n TS packets of PID pid, 184 bytes of payload each;
// with start the first one starts a PES packet.
func tsPackets(pid uint16, start bool, n int) []byte {
	b := make([]byte, 0, n*188)
	for i := range n {
		flags := byte(pid>>8) & 0x1f
		if start && i == 0 {
			flags |= 0x40
		}
		b = append(b, 0x47, flags, byte(pid), 0x10|byte(i%16))
		if start && i == 0 {
			b = append(b, 0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1)
			b = append(b, make([]byte, 184-14)...)
		} else {
			b = append(b, make([]byte, 184)...)
		}
	}
	return b
}

// metadataOnly is a TS whose one program has only a timed-metadata stream.
func metadataOnly(t *testing.T) []byte {
	var out bytes.Buffer
	m := astits.NewMuxer(context.Background(), &out)
	if err := m.AddElementaryStream(astits.PMTElementaryStream{ElementaryPID: 0x100, StreamType: astits.StreamTypeMetadata}); err != nil {
		t.Fatal(err)
	}
	m.SetPCRPID(0x100)
	if _, err := m.WriteTables(); err != nil {
		t.Fatal(err)
	}
	pts := &astits.ClockReference{Base: 90000}
	if _, err := m.WriteData(&astits.MuxerData{PID: 0x100, PES: &astits.PESData{
		Header: &astits.PESHeader{OptionalHeader: &astits.PESOptionalHeader{MarkerBits: 2, PTSDTSIndicator: astits.PTSDTSIndicatorOnlyPTS, PTS: pts}},
		Data:   []byte("metadata"),
	}}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestUnwrap(t *testing.T) {
	const wrap = 1 << 33
	for _, c := range []struct{ ref, pts, want int64 }{
		{0, 3000, 3000},
		{wrap - 1500, 1500, wrap + 1500},        // forward across the wrap
		{wrap + 1500, wrap - 1500, wrap - 1500}, // a little back across it
		{2*wrap + 10, 5, 2*wrap + 5},
		{100, wrap - 100, -100},
	} {
		if got := unwrap(c.ref, c.pts); got != c.want {
			t.Errorf("unwrap(%d, %d) = %d, want %d", c.ref, c.pts, got, c.want)
		}
	}
}

// FuzzDemux feeds arbitrary bytes (seeded with the test vectors and their
// truncations) to the whole TS-to-hang path: it must end with io.EOF or an
// error, never panic, and every frame it returns must be well formed.
func FuzzDemux(f *testing.F) {
	for _, name := range []string{"av.ts", "high.ts", "mono44.ts", "bframes.ts", "hevc.ts", "mp3.ts"} {
		b := readTestdata(f, name)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDemuxer(bytes.NewReader(b))
		last := map[string]uint64{}
		for range 100000 {
			ev, err := d.Next()
			if err != nil {
				return
			}
			fr, ok := ev.(Frame)
			if !ok {
				continue
			}
			if fr.Track == VideoTrack && fr.Key && !bytes.Contains(nalTypes(fr.Payload), []byte{7, 8}) {
				t.Fatalf("key frame without SPS and PPS: %v", nalTypes(fr.Payload))
			}
			last[fr.Track] = fr.Timestamp
		}
		t.Fatal("the demuxer did not end")
	})
}
