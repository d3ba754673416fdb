package media

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"

	"github.com/gomoq/gomoq/hang"
)

// remux writes frames through a Muxer and returns the TS.
func remux(t *testing.T, c *hang.Catalog, frames ...[]Frame) []byte {
	t.Helper()
	var v *hang.VideoConfig
	var a *hang.AudioConfig
	if c.Video != nil {
		r := c.Video.Renditions[VideoTrack]
		v = &r
	}
	if c.Audio != nil {
		r := c.Audio.Renditions[AudioTrack]
		a = &r
	}
	var out bytes.Buffer
	m, err := NewMuxer(&out, v, a)
	if err != nil {
		t.Fatal(err)
	}
	// Interleave by timestamp, as a player expects.
	idx := make([]int, len(frames))
	for {
		best := -1
		for i, fs := range frames {
			if idx[i] < len(fs) && (best < 0 || fs[idx[i]].Timestamp < frames[best][idx[best]].Timestamp) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		f := frames[best][idx[best]]
		idx[best]++
		if f.Track == VideoTrack {
			err = m.WriteVideo(f.Timestamp, f.Payload, f.Key)
		} else {
			err = m.WriteAudio(f.Timestamp, f.Payload)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// sameFrames compares frames, timestamps within the µs → 90 kHz → µs
// rounding (one tick).
func sameFrames(t *testing.T, got, want []Frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		d := int64(g.Timestamp) - int64(w.Timestamp)
		if g.Track != w.Track || g.Key != w.Key || !bytes.Equal(g.Payload, w.Payload) || d < -12 || d > 12 {
			t.Fatalf("frame %d: %s key %v at %d, %d bytes; want %s key %v at %d, %d bytes", i, g.Track, g.Key, g.Timestamp, len(g.Payload), w.Track, w.Key, w.Timestamp, len(w.Payload))
		}
	}
}

// MPEG-TS → hang → MPEG-TS → hang gives the same catalog and frames.
func TestMuxRoundTrip(t *testing.T) {
	for _, name := range []string{"av.ts", "high.ts", "mono44.ts"} {
		t.Run(name, func(t *testing.T) {
			first := demuxAll(readTestdata(t, name))
			if first.err != nil {
				t.Fatal(first.err)
			}
			ts := remux(t, first.catalogs[0], first.frames[VideoTrack], first.frames[AudioTrack])
			second := demuxAll(ts)
			if second.err != nil {
				t.Fatal(second.err)
			}
			if len(second.catalogs) != 1 || string(mustJSON(second.catalogs[0])) != string(mustJSON(first.catalogs[0])) {
				t.Fatalf("catalog %s, want %s", mustJSON(second.catalogs), mustJSON(first.catalogs[0]))
			}
			sameFrames(t, second.frames[VideoTrack], first.frames[VideoTrack])
			sameFrames(t, second.frames[AudioTrack], first.frames[AudioTrack])
		})
	}
}

// Timestamps across the 33-bit PTS wrap stay on one increasing clock.
func TestDemuxPTSWrap(t *testing.T) {
	first := demuxAll(readTestdata(t, "av.ts"))
	// Shift every frame so that the PTS (plus the Muxer's one second)
	// wraps one second into the stream.
	const wrapUS = (1<<33 - ptsOffset) * 100 / 9
	shift := uint64(wrapUS - 1_000_000)
	var shifted [2][]Frame
	for i, track := range []string{VideoTrack, AudioTrack} {
		for _, f := range first.frames[track] {
			f.Timestamp += shift
			shifted[i] = append(shifted[i], f)
		}
	}
	second := demuxAll(remux(t, first.catalogs[0], shifted[0], shifted[1]))
	if second.err != nil {
		t.Fatal(second.err)
	}
	sameFrames(t, second.frames[VideoTrack], first.frames[VideoTrack])
	sameFrames(t, second.frames[AudioTrack], first.frames[AudioTrack])
}

// A rendition with an avcC description and length-prefixed frames (what
// WebCodecs encoders give with avc:{format:"avc"}) comes out as Annex B
// with SPS and PPS before each key frame.
func TestMuxAVCC(t *testing.T) {
	first := demuxAll(readTestdata(t, "high.ts"))
	sps, pps := unhex(t, spsVectors[4].hex), unhex(t, "68ebe3cb22c0")
	avcc := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	avcc = binary.BigEndian.AppendUint16(avcc, uint16(len(sps)))
	avcc = append(avcc, sps...)
	avcc = append(avcc, 1)
	avcc = binary.BigEndian.AppendUint16(avcc, uint16(len(pps)))
	avcc = append(avcc, pps...)
	cfg := hang.VideoConfig{Codec: "avc1.64000b", Description: hex.EncodeToString(avcc)}
	if err := CheckVideo(cfg); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m, err := NewMuxer(&out, &cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range first.frames[VideoTrack] {
		var lp []byte // length-prefixed, without parameter sets
		for _, n := range splitAnnexB(f.Payload) {
			if typ := nalType(n); typ != nalSPS && typ != nalPPS && typ != nalAUD {
				lp = binary.BigEndian.AppendUint32(lp, uint32(len(n)))
				lp = append(lp, n...)
			}
		}
		if err := m.WriteVideo(f.Timestamp, lp, f.Key); err != nil {
			t.Fatal(err)
		}
	}
	second := demuxAll(out.Bytes())
	if second.err != nil {
		t.Fatal(second.err)
	}
	got := second.frames[VideoTrack]
	if len(got) != len(first.frames[VideoTrack]) {
		t.Fatalf("%d frames, want %d", len(got), len(first.frames[VideoTrack]))
	}
	for i, f := range got {
		types := nalTypes(f.Payload)
		if f.Key != first.frames[VideoTrack][i].Key || f.Key && (!bytes.HasPrefix(types, []byte{9, 7, 8}) || !bytes.Contains(types, []byte{5})) {
			t.Fatalf("frame %d: key %v, NAL types %v", i, f.Key, types)
		}
	}
	if m.WriteVideo(0, []byte{0, 0, 0, 9, 1}, false) == nil {
		t.Fatal("a NAL length past the frame was accepted")
	}
}

func TestCheckRenditions(t *testing.T) {
	for _, c := range []struct {
		cfg hang.VideoConfig
		ok  bool
	}{
		{hang.VideoConfig{Codec: "avc1.640028", Container: hang.Container{Kind: "legacy"}}, true},
		{hang.VideoConfig{Codec: "avc3.42c01e"}, true},
		{hang.VideoConfig{Codec: "vp09.00.10.08"}, false},
		{hang.VideoConfig{Codec: "avc1.640028", Container: hang.Container{Kind: "cmaf"}}, false},
		{hang.VideoConfig{Codec: "avc1.640028", Description: "0102"}, false},
		{hang.VideoConfig{Codec: "avc1.640028", Description: "zz"}, false},
	} {
		if err := CheckVideo(c.cfg); (err == nil) != c.ok {
			t.Errorf("CheckVideo(%+v) = %v", c.cfg, err)
		}
	}
	for _, c := range []struct {
		cfg hang.AudioConfig
		ok  bool
	}{
		{hang.AudioConfig{Codec: "mp4a.40.2", Description: "1190"}, true},
		{hang.AudioConfig{Codec: "opus", SampleRate: 48000, NumberOfChannels: 2}, false},
		{hang.AudioConfig{Codec: "mp4a.40.2"}, false},
		{hang.AudioConfig{Codec: "mp4a.40.2", Description: "1190", Container: hang.Container{Kind: "loc"}}, false},
	} {
		if err := CheckAudio(c.cfg); (err == nil) != c.ok {
			t.Errorf("CheckAudio(%+v) = %v", c.cfg, err)
		}
	}
}

func FuzzParseAVCC(f *testing.F) {
	f.Add(unhex(f, "0164000bffe10019"+"6764000bacd9428df93011000003000100000300320f142996"+"01000668ebe3cb22c0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseAVCC(b)
		if err != nil {
			return
		}
		if len(c.sps) == 0 || len(c.pps) == 0 {
			t.Fatal("parsed without parameter sets")
		}
	})
}
